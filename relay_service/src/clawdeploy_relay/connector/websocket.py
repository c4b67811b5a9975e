"""A minimal WebSocket client (RFC 6455) on asyncio streams and wsproto (sans-I/O).

Enough for the relay's ``/ws``: one text frame is one JSON object. :func:`open_socket`
connects (``http://`` → plain TCP, ``https://`` → TLS with the system's CA store and
host-name check; proxies are not used) and upgrades ``<base path>/ws``; the relay's pings
are answered; :meth:`Socket.receive` returns the next text message or raises
:class:`SocketClosedError` with the close code. Failures raise
:class:`~.errors.RelayError`: ``unavailable`` (no connection, timeout, the socket
dropped), or, for a refused upgrade, what the relay's error envelope says (401/403
``auth``, 429/5xx ``unavailable``, another status ``rejected``).
"""

import asyncio
import contextlib
import json
import ssl
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

from .errors import RelayError, retry_after

READ_BYTES = 65536
MAX_MESSAGE_CHARS = 16 * 1024 * 1024


class SocketClosedError(Exception):
    """The peer closed the socket (``code``: the close code, 1006 when it just dropped)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"closed with code {code}")
        self.code = code
        self.reason = reason


def ws_target(base_url: str) -> tuple[str, int, bool, str, str]:
    """``(host, port, tls, Host header, request target)`` of ``<base_url>/ws``."""
    parts = urlsplit(base_url)
    tls = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if tls else 80)
    return host, port, tls, parts.netloc, parts.path.rstrip("/") + "/ws"


def _refusal(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> RelayError:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    code = str(data.get("error_code", "")) if isinstance(data, dict) else ""
    where = f"/ws upgrade answered HTTP {status} {code}".rstrip()
    if status in (401, 403):
        return RelayError("auth", f"{where}: the relay refused the client token", status, code)
    if status == 429 or status >= 500:
        wait = next((v.decode() for k, v in headers if k.lower() == b"retry-after"), None)
        return RelayError("unavailable", where, status, code, retry_after(wait))
    return RelayError("rejected", where, status, code)


class Socket:
    """One open WebSocket (use :func:`open_socket`)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ws: WSConnection
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._ws = ws
        self._events: list[object] = []
        self._parts: list[str] = []
        self._lock = asyncio.Lock()
        self.closed = False

    async def _write(self, data: bytes) -> None:
        async with self._lock:
            self._writer.write(data)
            await self._writer.drain()

    async def send_json(self, frame: dict) -> None:
        """Send one JSON text frame; raises :class:`SocketClosedError` when it is gone."""
        if self.closed:
            raise SocketClosedError(1006)
        try:
            await self._write(self._ws.send(TextMessage(data=json.dumps(frame))))
        except (OSError, LocalProtocolError):
            self.closed = True
            raise SocketClosedError(1006) from None

    async def receive(self) -> str:
        """The next text message; raises :class:`SocketClosedError` when the socket closes."""
        while True:
            while self._events:
                event = self._events.pop(0)
                if isinstance(event, TextMessage):
                    self._parts.append(event.data)
                    if sum(len(p) for p in self._parts) > MAX_MESSAGE_CHARS:
                        await self.close(1009)
                        raise SocketClosedError(1009)
                    if event.message_finished:
                        text, self._parts = "".join(self._parts), []
                        return text
                elif isinstance(event, Ping):
                    await self._write(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if not self.closed:
                        self.closed = True
                        with contextlib.suppress(OSError, LocalProtocolError):
                            await self._write(self._ws.send(event.response()))
                        self._writer.close()
                    raise SocketClosedError(event.code, event.reason or "")
            try:
                data = await self._reader.read(READ_BYTES)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                self._writer.close()
                raise SocketClosedError(1006)
            self._ws.receive_data(data)
            self._events.extend(self._ws.events())

    async def close(self, code: int = 1000) -> None:
        """Close (best-effort; never raises)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError, LocalProtocolError, TimeoutError):
            await asyncio.wait_for(self._write(self._ws.send(CloseConnection(code=code))), 1.0)
        self._writer.close()


async def open_socket(base_url: str, headers: list[tuple[str, str]], timeout_s: float) -> Socket:
    """Connect and upgrade ``<base_url>/ws`` with ``headers``; raises RelayError."""
    host, port, tls, netloc, target = ws_target(base_url)
    context = ssl.create_default_context() if tls else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context), timeout_s
        )
    except TimeoutError:
        raise RelayError("unavailable", "/ws: no connection in time") from None
    except OSError as exc:
        raise RelayError("unavailable", f"/ws: {type(exc).__name__}") from None
    ws = WSConnection(ConnectionType.CLIENT)
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    socket = Socket(reader, writer, ws)
    try:
        await socket._write(ws.send(Request(host=netloc, target=target, extra_headers=extra)))
        return await asyncio.wait_for(_handshake(socket, reader, ws), timeout_s)
    except RelayError:
        writer.close()
        raise
    except TimeoutError:
        writer.close()
        raise RelayError("unavailable", "/ws: no upgrade answer in time") from None
    except (OSError, LocalProtocolError) as exc:
        writer.close()
        raise RelayError("unavailable", f"/ws: {type(exc).__name__}") from None


async def _handshake(socket: Socket, reader: asyncio.StreamReader, ws: WSConnection) -> Socket:
    refused: RejectConnection | None = None
    body = b""
    while True:
        data = await reader.read(READ_BYTES)
        if not data:
            raise RelayError("unavailable", "/ws: the connection closed during the upgrade")
        ws.receive_data(data)
        events = list(ws.events())
        for index, event in enumerate(events):
            if isinstance(event, AcceptConnection):
                socket._events.extend(events[index + 1 :])
                return socket
            if isinstance(event, RejectConnection):
                refused = event
                if not event.has_body:
                    raise _refusal(event.status_code, list(event.headers), b"")
            elif isinstance(event, RejectData) and refused is not None:
                body += event.data
                if event.body_finished:
                    raise _refusal(refused.status_code, list(refused.headers), body)
