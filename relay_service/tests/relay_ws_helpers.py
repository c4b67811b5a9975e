"""A client WebSocket for the relay's tests, with timeouts (a module name unique in the repo).

Starlette's test session blocks forever on ``receive`` when nothing comes; these helpers
wait at most a few seconds, so a missing push fails the test instead of hanging it.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from starlette.testclient import WebSocketTestSession

from clawdeploy_relay.ws.hello import hello_frame
from relay_helpers import Relay, bearer


class Socket:
    """An open client WebSocket: :meth:`frame` to read, :meth:`send` to write."""

    def __init__(self, session: WebSocketTestSession, tokens: list[str]) -> None:
        self.session = session
        self.tokens = tokens

    def _message(self, timeout_s: float) -> dict[str, Any]:
        async def receive() -> dict[str, Any]:
            with anyio.fail_after(timeout_s):
                # The session's own receive has no timeout; read its stream directly.
                message: dict[str, Any] = await self.session._send_rx.receive()
                return message

        return self.session.portal.call(receive)

    def frame(self, timeout_s: float = 3.0) -> dict[str, Any]:
        """The next frame from the relay (TimeoutError after ``timeout_s``); no token in it."""
        message = self._message(timeout_s)
        assert message["type"] == "websocket.send", message
        for token in self.tokens:
            assert token not in message["text"], "a WebSocket frame showed a token"
        frame: dict[str, Any] = json.loads(message["text"])
        return frame

    def expect(self, kind: str, timeout_s: float = 3.0) -> dict[str, Any]:
        """The next frame, asserted to be of ``type`` ``kind``."""
        frame = self.frame(timeout_s)
        assert frame["type"] == kind, frame
        return frame

    def nothing_within(self, seconds: float) -> None:
        """Assert that the relay sends nothing for ``seconds``."""
        try:
            message = self._message(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {message}")

    def closed(self, timeout_s: float = 3.0) -> dict[str, Any]:
        """Wait for the relay to close the socket; return the close message."""
        message = self._message(timeout_s)
        assert message["type"] == "websocket.close", message
        return message

    def send(self, frame: dict[str, Any]) -> None:
        """Send one JSON text frame."""
        self.session.send_json(frame)


@contextmanager
def connect(relay: Relay, headers: dict[str, str]) -> Iterator[Socket]:
    """Open ``/ws`` with ``headers``; yield the socket after its ``ready`` frame."""
    with relay.http.websocket_connect("/ws", headers=headers) as session:
        socket = Socket(session, relay.tokens)
        socket.expect("ready")
        yield socket


@contextmanager
def unauthenticated(relay: Relay) -> Iterator[Socket]:
    """Open ``/ws`` without an ``Authorization`` header (the signed-hello way in)."""
    with relay.http.websocket_connect("/ws") as session:
        yield Socket(session, relay.tokens)


def signed_hello(relay: Relay, client_id: str, key: str, **fields: Any) -> dict[str, Any]:
    """A hello signed with ``key`` at the relay's clock; ``fields`` override after signing."""
    frame = hello_frame(key, client_id, int(relay.clock() * 1000))
    return {**frame, **fields}


@contextmanager
def connect_signed(relay: Relay, client_id: str, key: str) -> Iterator[Socket]:
    """Open ``/ws`` with a signed hello; yield the socket after its ``ready`` frame."""
    with unauthenticated(relay) as socket:
        socket.send(signed_hello(relay, client_id, key))
        ready = socket.expect("ready")
        assert ready["clientId"] == client_id
        yield socket


def register_signed(relay: Relay, name: str = "oc") -> tuple[str, dict[str, str], str]:
    """Register a client on a relay with a signing secret; (id, auth headers, signing key).

    The key joins ``relay.tokens``: no later answer or frame may show it.
    """
    response = relay.call("POST", "/clients", json={"name": name}, headers=relay.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["signingKey"].startswith("rs_"), body
    relay.tokens += [body["token"], body["signingKey"]]
    return body["clientId"], bearer(body["token"]), body["signingKey"]
