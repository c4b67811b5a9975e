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

from relay_helpers import Relay


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
