"""Streamed reply chunks (best-effort, in memory) and cancels (durable ack, pushed).

**Chunks.** A client working on a user's message may send parts of its reply as it goes
(``/ws`` ``chunk`` frames). :class:`StreamBuffer` keeps them in this node's memory, per
inbound message (``replyTo``), for the user side's ``GET /stream``; the final ``send``
stores the durable reply (``GET /outbox``) and drops the conversation's streams. Chunks
are never written to the database: a relay restart, another node, an eviction or
``RELAY_LEASE_S`` without a new chunk (the reply is stuck; the message will be delivered
again) loses them, and nothing else depends on them. Bounds: ``RELAY_MAX_TEXT_CHARS``
characters per stream (413 ``text_too_long`` for a chunk beyond), at most
:data:`MAX_CHUNKS` chunks per stream and :data:`MAX_STREAMS` streams per node (the
least recently updated is dropped first).

**Cancel.** :func:`cancel_message` acks a user's message that is not acked yet, whoever
holds it, so it is never delivered (again) and its conversation goes on; the route then
tells the client's open sockets on this node (``{"type": "cancel"}``, :mod:`..ws.session`).
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..envelope import ApiError
from ..retry import retried
from ..store import Store

MAX_STREAMS = 10_000
MAX_CHUNKS = 4096


@dataclass
class Stream:
    """The chunks so far of the reply to inbound message ``reply_to``."""

    reply_to: str
    conversation_id: str
    integration_id: str
    client_id: str
    user_id: str
    updated_at: float
    chunks: dict[int, str] = field(default_factory=dict)

    def text(self) -> str:
        """The chunks joined in ``seq`` order (a missing ``seq`` is just skipped)."""
        return "".join(self.chunks[seq] for seq in sorted(self.chunks))

    def json(self) -> dict[str, Any]:
        """``{conversationId, replyTo, to, text, seq, chunks, updatedAt}`` (ms)."""
        return {
            "conversationId": self.conversation_id,
            "replyTo": self.reply_to,
            "to": self.user_id,
            "text": self.text(),
            "seq": max(self.chunks),
            "chunks": len(self.chunks),
            "updatedAt": int(self.updated_at * 1000),
        }


class StreamBuffer:
    """This node's reply streams, by inbound message id (event loop only).

    :param clock: seconds since the epoch.
    :param ttl_s: a stream without a new chunk for this long is dropped (``RELAY_LEASE_S``).
    :param max_chars: characters per stream (``RELAY_MAX_TEXT_CHARS``).
    """

    def __init__(self, clock: Clock, ttl_s: float, max_chars: int) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self.max_chars = max_chars
        self._streams: OrderedDict[str, Stream] = OrderedDict()

    def known(self, client_id: str, reply_to: str, conversation_id: str) -> bool:
        """Whether this client already streams to ``reply_to`` in that conversation (the
        ownership was checked with its first chunk)."""
        found = self._streams.get(reply_to)
        return (
            found is not None
            and found.client_id == client_id
            and found.conversation_id == conversation_id
        )

    def add(
        self, reply_to: str, client_id: str, seq: int, text: str, owner: dict | None = None
    ) -> None:
        """Keep chunk ``seq`` of the reply to ``reply_to`` (the same ``seq`` again replaces
        it: a retransmission).

        ``owner`` (``{conversation_id, integration_id, user_id}``, checked by
        :func:`owned_message`) starts a new stream; without it the stream must be
        :meth:`known`. Raises ApiError 413 ``text_too_long`` beyond ``max_chars`` in all,
        422 ``too_many_chunks`` beyond :data:`MAX_CHUNKS`.
        """
        now = self.clock()
        found = self._streams.get(reply_to)
        if found is None:
            assert owner is not None, "a new stream needs its checked owner"
            found = Stream(
                reply_to=reply_to,
                conversation_id=owner["conversation_id"],
                integration_id=owner["integration_id"],
                client_id=client_id,
                user_id=owner["user_id"],
                updated_at=now,
            )
        size = sum(len(t) for n, t in found.chunks.items() if n != seq) + len(text)
        if size > self.max_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"the streamed reply would have {size} characters; the relay takes at most "
                f"{self.max_chars} (RELAY_MAX_TEXT_CHARS)",
            )
        if seq not in found.chunks and len(found.chunks) >= MAX_CHUNKS:
            raise ApiError(422, "too_many_chunks", f"at most {MAX_CHUNKS} chunks per reply")
        found.chunks[seq] = text
        found.updated_at = now
        self._streams[reply_to] = found
        self._streams.move_to_end(reply_to)
        while len(self._streams) > MAX_STREAMS:
            self._streams.popitem(last=False)

    def finish(self, client_id: str, conversation_id: str) -> None:
        """Drop the client's streams in a conversation (its reply was stored)."""
        for reply_to, found in list(self._streams.items()):
            if found.client_id == client_id and found.conversation_id == conversation_id:
                del self._streams[reply_to]

    def drop(self, reply_tos: list[str]) -> None:
        """Drop the streams of these inbound messages (acked or cancelled)."""
        for reply_to in reply_tos:
            self._streams.pop(reply_to, None)

    def read(self, integration_id: str | None, conversation_id: str | None) -> list[dict]:
        """The live streams of an integration (None: every one), optionally of one
        conversation, least recently updated first, as :meth:`Stream.json`."""
        cutoff = self.clock() - self.ttl_s
        for reply_to, found in list(self._streams.items()):
            if found.updated_at < cutoff:
                del self._streams[reply_to]
        return [
            found.json()
            for found in self._streams.values()
            if (integration_id is None or found.integration_id == integration_id)
            and (conversation_id is None or found.conversation_id == conversation_id)
        ]


def owned_message(store: Store, client_id: str, message_id: str, conversation_id: str) -> dict:
    """The un-acked inbound message ``message_id`` of ``conversation_id`` assigned to
    ``client_id``, as ``{conversation_id, integration_id, user_id}``.

    Raises ApiError 404 ``message_not_found`` otherwise (acked or cancelled already, moved
    to another client; another client's message is not said to exist).
    """
    with store.tx() as conn:
        row = store.inbound_message(conn, message_id)
    if (
        row is None
        or row["conversation_id"] != conversation_id
        or row["client_id"] != client_id
        or row["state"] == "acked"
    ):
        raise ApiError(
            404, "message_not_found", "no such message in flight in this client's conversation"
        )
    return {
        "conversation_id": conversation_id,
        "integration_id": row["integration_id"],
        "user_id": row["user_id"],
    }


@retried
def cancel_message(
    store: Store, integration_id: str | None, message_id: str
) -> tuple[dict[str, Any], str | None]:
    """Ack a user's message (a cancel); return (answer, client to tell or None).

    ``integration_id`` is the caller's (None: the admin, any message). The answer is
    ``{messageId, conversationId, cancelled}``: ``cancelled`` is false when the message was
    acked already (answered, or cancelled before). Raises ApiError 404
    ``message_not_found`` for no such inbound message of the integration.
    """
    with store.tx() as conn:
        row = store.inbound_message(conn, message_id)
        if row is None or integration_id not in (None, row["integration_id"]):
            raise ApiError(404, "message_not_found", "no such message for this token")
        cancelled = store.ack_any(conn, message_id)
        client_id = row["client_id"]
        if cancelled and client_id:
            store.publish(conn, [client_id])  # its next message may be due now
    answer = {"messageId": message_id, "conversationId": row["conversation_id"]}
    return {**answer, "cancelled": cancelled}, client_id if cancelled else None
