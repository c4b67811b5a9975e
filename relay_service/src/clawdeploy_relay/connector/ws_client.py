"""The relay's ``/ws`` as the connector uses it (``CONNECTOR_TRANSPORT=ws``).

:meth:`WsRelayClient.connect` opens the socket — with ``Authorization: Bearer <client
token>``, or, when ``CONNECTOR_SIGNING_KEY`` is set, without it and with a signed
``hello`` as the first frame (:mod:`..ws.hello`; ``ts`` from this host's clock, a fresh
nonce) — and waits for ``ready``. :meth:`WsRelayClient.serve` then reads frames until the
socket closes: pushed ``messages`` and ``cancel`` frames go to the callbacks, answers go to
the request waiting for them (matched by ``ref``). :meth:`send` and :meth:`ack` are
``POST /send`` and ``POST /ack`` as frames (the same fields, idempotency and acks), with
the same :class:`~.errors.RelayError` kinds as :class:`~.relay_client.RelayClient`, so
:class:`~.deliver.Deliverer` works on either: an ``error`` frame maps to the HTTP status
of its code (``conversation_not_found`` 404, ``idempotency_conflict`` 409,
``text_too_long`` / ``request_too_large`` 413, ``rate_limited`` 429 and ``internal_error``
500 — both ``unavailable`` —, ``token_revoked`` 401 ``auth``, others 422). A request made
while the socket is down waits up to ``CONNECTOR_RELAY_TIMEOUT_S`` for the next connection,
then raises ``unavailable`` (the deliverer retries with backoff); one whose socket drops
before its answer raises ``unavailable`` too (the same idempotency key makes the retry
safe).

Close codes after the handshake: 4401 (``auth_failed``, ``hello_expired``,
``hello_not_configured``) and 1008 (revoked) are ``auth``; the others ``unavailable``.
"""

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from .. import __version__
from ..ws.hello import hello_frame
from .errors import RelayError
from .relay_client import InboundMessage
from .websocket import Socket, SocketClosedError, open_socket

AUTH_CLOSE_CODES = frozenset({1008, 4401})
_STATUS = {
    "conversation_not_found": 404,
    "message_not_found": 404,
    "idempotency_conflict": 409,
    "text_too_long": 413,
    "request_too_large": 413,
    "rate_limited": 429,
    "internal_error": 500,
    "token_revoked": 401,
}


def frame_error(frame: dict[str, Any], what: str) -> RelayError:
    """The :class:`RelayError` of an ``error`` frame answering ``what``."""
    code = str(frame.get("error_code", ""))
    status = _STATUS.get(code, 422)
    where = f"{what} answered {code or 'an error'}"
    if status == 401:
        return RelayError("auth", f"{where}: the relay refused the client", status, code)
    if status in (429, 500):
        wait = frame.get("retryAfter")
        return RelayError("unavailable", where, status, code, float(wait) if wait else None)
    return RelayError("rejected", where, status, code)


class WsRelayClient:
    """One client's ``/ws`` on one relay.

    :param base_url: relay root (``https://…``: the socket is ``wss://…/ws``).
    :param token: the client token for a bearer upgrade (None with a signing key).
    :param timeout_s: seconds for the connection, the hello and each request's answer.
    :param client_id: the client's id (needed with ``signing_key``).
    :param signing_key: the client's signing key: sign a hello instead of the bearer.
    :param clock: seconds since the epoch (the hello's ``ts``).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout_s: float,
        client_id: str | None = None,
        signing_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if signing_key is not None and client_id is None:
            raise ValueError("a signing key needs the client id")
        if signing_key is None and token is None:
            raise ValueError("give the client token or a signing key")
        self.base_url = base_url
        self._token = token
        self._timeout_s = timeout_s
        self.client_id = client_id
        self._signing_key = signing_key
        self._clock = clock
        self._socket: Socket | None = None
        self._connected = asyncio.Event()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._refs = itertools.count(1)

    @property
    def signed(self) -> bool:
        """Whether it authenticates with a signed hello (else the bearer token)."""
        return self._signing_key is not None

    async def connect(self) -> dict[str, Any]:
        """Open the socket and authenticate; return the ``ready`` frame. Raises RelayError."""
        await self.disconnect()
        headers = [("User-Agent", f"clawdeploy-relay-connector/{__version__}")]
        if not self.signed:
            headers.append(("Authorization", f"Bearer {self._token}"))
        socket = await open_socket(self.base_url, headers, self._timeout_s)
        try:
            if self._signing_key is not None and self.client_id is not None:
                ts_ms = int(self._clock() * 1000)
                await socket.send_json(hello_frame(self._signing_key, self.client_id, ts_ms))
            first = await asyncio.wait_for(self._frame(socket), self._timeout_s)
        except TimeoutError:
            await socket.close()
            raise RelayError("unavailable", "/ws: no ready frame in time") from None
        except SocketClosedError as exc:
            raise self._closed_error(exc) from None
        except RelayError:
            await socket.close()
            raise
        if first.get("type") == "error":
            error = frame_error(first, "/ws hello")
            if first.get("error_code") in ("auth_failed", "hello_expired", "hello_not_configured"):
                error.kind = "auth"
            await socket.close()
            raise error
        if first.get("type") != "ready":
            await socket.close()
            raise RelayError("unavailable", "/ws: the first frame was not 'ready'")
        self.client_id = str(first.get("clientId") or self.client_id)
        self._socket = socket
        self._connected.set()
        return first

    @staticmethod
    async def _frame(socket: Socket) -> dict[str, Any]:
        text = await socket.receive()
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            raise RelayError("unavailable", "/ws: the relay sent a frame that is not JSON")
        return frame

    @staticmethod
    def _closed_error(exc: SocketClosedError) -> RelayError:
        kind = "auth" if exc.code in AUTH_CLOSE_CODES else "unavailable"
        detail = f"/ws closed with code {exc.code} {exc.reason}".rstrip()
        status = 401 if kind == "auth" else None
        return RelayError(kind, detail, status, exc.reason)

    async def serve(
        self,
        on_messages: Callable[[list[InboundMessage]], object],
        on_cancel: Callable[[str, str], object],
    ) -> None:
        """Read frames until the socket closes, then raise RelayError (``auth`` for a
        revocation, else ``unavailable``). ``on_messages(messages)`` gets each push,
        ``on_cancel(message_id, conversation_id)`` each cancel."""
        socket = self._socket
        if socket is None:
            raise RelayError("unavailable", "/ws: not connected")
        try:
            while True:
                frame = await self._frame(socket)
                kind = frame.get("type")
                if kind == "messages":
                    try:
                        batch = [InboundMessage.from_json(m) for m in frame.get("messages") or []]
                    except (KeyError, TypeError, ValueError):
                        raise RelayError("unavailable", "/ws pushed malformed messages") from None
                    on_messages(batch)
                elif kind == "cancel":
                    on_cancel(str(frame.get("messageId")), str(frame.get("conversationId")))
                else:
                    waiting = self._pending.pop(str(frame.get("ref")), None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(frame)
        except SocketClosedError as exc:
            raise self._closed_error(exc) from None
        finally:
            await self.disconnect()

    async def disconnect(self) -> None:
        """Close the socket (if open); requests waiting for an answer fail ``unavailable``."""
        self._connected.clear()
        socket, self._socket = self._socket, None
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(RelayError("unavailable", "/ws closed before the answer"))
        self._pending.clear()
        if socket is not None:
            await socket.close()

    async def _request(self, frame: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            await asyncio.wait_for(self._connected.wait(), self._timeout_s)
        except TimeoutError:
            raise RelayError("unavailable", f"{what}: the socket is not connected") from None
        socket = self._socket
        assert socket is not None
        ref = f"c{next(self._refs)}"
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = answer
        try:
            await socket.send_json({**frame, "ref": ref})
            result = await asyncio.wait_for(answer, self._timeout_s)
        except SocketClosedError:
            raise RelayError("unavailable", f"{what}: the socket closed") from None
        except TimeoutError:
            raise RelayError("unavailable", f"{what}: no answer in time") from None
        finally:
            self._pending.pop(ref, None)
        if result.get("type") == "error":
            raise frame_error(result, what)
        return result

    async def send(
        self, message: InboundMessage, text: str, key: str, ack_ids: list[str]
    ) -> dict[str, Any]:
        """Store ``text`` as the reply to ``message``; ack exactly ``ack_ids`` with it."""
        frame = {
            "type": "send",
            "conversationId": message.conversation_id,
            "to": message.sender,
            "text": text,
            "idempotencyKey": key,
            "ackIds": ack_ids,
        }
        return await self._request(frame, "send")

    async def ack(self, ids: list[str]) -> int:
        """Ack ``ids``; return how many were leased to this client and are now acked."""
        answer = await self._request({"type": "ack", "ids": ids}, "ack")
        return int(answer.get("acked", 0))

    async def aclose(self) -> None:
        """Close the socket."""
        await self.disconnect()
