"""One client's WebSocket session: messages pushed as they are queued, frames answered.

Once the route has authenticated the client, :meth:`ClientSession.run` accepts the socket,
sends ``ready`` and runs two tasks until the client goes:

* the **pusher** claims the client's messages with :meth:`~..services.relay.RelayService.poll`
  in explicit-ack mode — the same leases, order and redelivery as ``GET /poll?ack=explicit``
  — and sends them as one ``messages`` frame. With nothing to send it waits on the
  long-poll :class:`~..services.notifier.Notifier` (woken when a message is queued for the
  client, when the sweep sees one of its leases run out, and after its own ``ack`` or
  ``send``), at most ``keepalive_s`` seconds, then claims again, which also keeps the client
  ``connected``;
* the **reader** answers each frame (:mod:`.frames`): ``ack`` → ``acked``, ``send`` →
  ``sent``, ``chunk`` → ``chunked`` (only when it has a ``ref``), ``ping`` → ``pong``; a
  refused frame → ``error`` and the socket stays open. Frames count against the client's
  request rate, like HTTP requests. Chunks go to the node's
  :class:`~..services.streams.StreamBuffer` (the first chunk of a reply checks that its
  message is this client's and in flight); a ``send`` drops its conversation's streams, an
  ``ack`` those of the acked messages.

Every open session is in the node's :class:`Sockets`, through which ``POST /cancel``
pushes ``{"type": "cancel", messageId, conversationId}`` to the client's sockets.

Closing the socket releases nothing: unacked messages are delivered again once their lease
runs out (to this client when it reconnects, to another one on failover). A client revoked
while connected gets an ``error`` frame ``token_revoked`` and close code 1008.
"""

import logging
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from ..envelope import ApiError
from ..metrics import RelayMetrics
from ..routers.params import check_text
from ..services.notifier import Notifier
from ..services.principals import Principal, Principals
from ..services.ratelimit import RateLimiter
from ..services.relay import RelayService
from ..services.streams import StreamBuffer, owned_message
from ..settings import Settings
from .frames import (
    AckFrame,
    ChunkFrame,
    ClientFrame,
    PingFrame,
    SendFrame,
    error_frame,
    parse_frame,
)

logger = logging.getLogger("clawdeploy_relay.ws")
# Sending to a socket the client has closed raises one of these.
GONE = (WebSocketDisconnect, WebSocketDisconnected)
CLOSE_POLICY = 1008  # RFC 6455: policy violation (here: the token was revoked)
REVOKED = ApiError(401, "token_revoked", "this client token was revoked; ask for a new one")


class Sockets:
    """This node's open client sessions, by client id (event loop only)."""

    def __init__(self) -> None:
        self._by_client: dict[str, set[ClientSession]] = {}

    def add(self, session: "ClientSession") -> None:
        """Register an open session."""
        self._by_client.setdefault(session.client.id, set()).add(session)

    def remove(self, session: "ClientSession") -> None:
        """Forget a closed session."""
        found = self._by_client.get(session.client.id)
        if found is not None:
            found.discard(session)
            if not found:
                del self._by_client[session.client.id]

    async def push(self, client_id: str, frame: dict[str, Any]) -> int:
        """Send ``frame`` to every open socket of the client here; return how many got it."""
        told = 0
        for session in list(self._by_client.get(client_id, ())):
            try:
                await session.send(frame)
                told += 1
            except GONE:
                pass
        return told


class ClientSession:
    """The WebSocket of one authenticated client."""

    def __init__(
        self,
        websocket: WebSocket,
        client: Principal,
        *,
        relay: RelayService,
        notifier: Notifier,
        principals: Principals,
        limiter: RateLimiter,
        metrics: RelayMetrics,
        settings: Settings,
        trace_id: str,
        streams: StreamBuffer,
        sockets: Sockets,
    ) -> None:
        self.ws = websocket
        self.streams = streams
        self.sockets = sockets
        self.client = client
        self.relay = relay
        self.notifier = notifier
        self.principals = principals
        self.limiter = limiter
        self.metrics = metrics
        self.settings = settings
        self.trace_id = trace_id
        # A third of the stale time: an idle socket's client never turns stale.
        self.keepalive_s = settings.stale_after_s / 3
        self._send_lock = anyio.Lock()

    async def run(self, accepted: bool = False) -> None:
        """Accept (unless ``accepted``: a signed hello came first), send ``ready``, then push
        and read until the client closes."""
        if not accepted:
            await self.ws.accept()
        self.metrics.websockets.inc()
        self.sockets.add(self)
        logger.info("client websocket open: id=%s trace_id=%s", self.client.id, self.trace_id)
        try:
            await self.send(
                {
                    "type": "ready",
                    "clientId": self.client.id,
                    "leaseS": self.settings.lease_s,
                    "keepaliveS": self.keepalive_s,
                    "maxFrameBytes": self.settings.max_body_bytes,
                    "trace_id": self.trace_id,
                }
            )
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._push, tasks.cancel_scope)
                await self._read()
                tasks.cancel_scope.cancel()
        except GONE:
            pass
        finally:
            self.sockets.remove(self)
            self.metrics.websockets.dec()
            logger.info("client websocket closed: id=%s trace_id=%s", self.client.id, self.trace_id)

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one frame (frames from several tasks never interleave); raises GONE."""
        async with self._send_lock:
            await self.ws.send_json(frame)

    async def _active(self) -> bool:
        return await run_in_threadpool(self.principals.is_active, self.client)

    async def _close_revoked(self) -> None:
        logger.info("client websocket revoked: id=%s trace_id=%s", self.client.id, self.trace_id)
        await self.send(error_frame(REVOKED))
        await self.ws.close(CLOSE_POLICY, REVOKED.error_code)

    async def _push(self, scope: anyio.CancelScope) -> None:
        client_id = self.client.id
        try:
            while True:
                # The version is read before the revocation check and the claim, so a
                # revocation or a message that comes in between wakes the wait below.
                seen = self.notifier.version(client_id)
                if not await self._active():
                    await self._close_revoked()
                    break
                result = await run_in_threadpool(self.relay.poll, client_id, False)
                if result.messages:
                    await self.send({"type": "messages", "messages": result.messages})
                    continue
                await self.notifier.wait(client_id, seen, self.keepalive_s)
        except GONE:
            pass
        scope.cancel()  # the client is gone or revoked: stop the reader too

    async def _read(self) -> None:
        # Disconnects end the loop here: raised out of the task group they would come
        # wrapped in an exception group.
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    binary = ApiError(422, "invalid_request", "frames are JSON text, not binary")
                    await self.send(error_frame(binary))
                    continue
                if not await self._active():
                    await self._close_revoked()
                    return
                answer = await self._answer(text)
                if answer is not None:
                    await self.send(answer)
        except GONE:
            return

    async def _answer(self, text: str) -> dict[str, Any] | None:
        """The answer to one text frame: its result (None: nothing to say), or an
        ``error`` frame."""
        frame: ClientFrame | None = None
        try:
            # The rate first, before any parsing: a flood of frames costs a counter each.
            self.limiter.check(f"client:{self.client.id}")
            frame = parse_frame(text, self.settings.max_body_bytes)
            return await self._handle(frame)
        except ApiError as exc:
            self.metrics.refused(exc.error_code)
            return error_frame(exc, frame.ref if frame is not None else None)
        except Exception:  # keep the socket; the log has the cause under the trace id
            logger.exception("websocket frame failed: trace_id=%s", self.trace_id)
            failed = ApiError(
                500,
                "internal_error",
                f"internal error; find trace_id {self.trace_id} in the relay log (journalctl)",
            )
            return error_frame(failed, frame.ref if frame is not None else None)

    async def _handle(self, frame: ClientFrame) -> dict[str, Any] | None:
        client_id = self.client.id
        if isinstance(frame, PingFrame):
            return {"type": "pong", "ref": frame.ref}
        if isinstance(frame, AckFrame):
            acked = await run_in_threadpool(self.relay.ack, client_id, frame.ids)
            self.streams.drop(frame.ids)
            if acked:
                self.notifier.notify([client_id])  # the next message of a conversation is due
            return {"type": "acked", "ref": frame.ref, "acked": acked}
        if isinstance(frame, ChunkFrame):
            return await self._chunk(frame)
        assert isinstance(frame, SendFrame)
        check_text(frame.text, self.settings)
        message = await run_in_threadpool(
            self.relay.send,
            client_id,
            frame.conversation_id,
            frame.to,
            frame.text,
            frame.idempotency_key,
            frame.ack_ids,
        )
        self.streams.finish(client_id, message["conversationId"])
        self.notifier.notify([client_id])  # the send acked: the conversation may go on
        return {"type": "sent", "ref": frame.ref, "message": message}

    async def _chunk(self, frame: ChunkFrame) -> dict[str, Any] | None:
        """Keep one reply chunk (best-effort, this node's memory)."""
        client_id = self.client.id
        check_text(frame.text, self.settings)
        owner = None
        if not self.streams.known(client_id, frame.reply_to, frame.conversation_id):
            owner = await run_in_threadpool(
                owned_message,
                self.relay.store,
                client_id,
                frame.reply_to,
                frame.conversation_id,
            )
        self.streams.add(frame.reply_to, client_id, frame.seq, frame.text, owner)
        if frame.ref is None:
            return None
        return {"type": "chunked", "ref": frame.ref, "replyTo": frame.reply_to, "seq": frame.seq}
