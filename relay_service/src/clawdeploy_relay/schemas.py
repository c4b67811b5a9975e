"""Request and response bodies of the HTTP API, with the seed's camelCase JSON names.

Fields are snake_case in Python and camelCase on the wire (``conversationId``), except the
envelope's own ``ok`` and ``trace_id`` and the seed's ``from``. Times are integer
milliseconds since the epoch. Unknown request fields are ignored, as the seed did.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Visible ASCII, as in an HTTP header; stored in a 200-character column.
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,200}$"
# No U+0000 in any stored or looked-up string: PostgreSQL's text cannot hold it, and both
# backends answer alike (422).
NO_NUL = r"^[^\x00]*$"
UserId = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Text = Annotated[str, Field(min_length=1, pattern=NO_NUL)]
IdempotencyKey = Annotated[str, Field(pattern=IDEMPOTENCY_KEY)]


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Ok(Wire):
    """The success half of the envelope."""

    ok: bool = True
    trace_id: str = Field(alias="trace_id", description="also in the X-Trace-Id header")


class ErrorOut(BaseModel):
    """The error envelope (:mod:`.envelope`)."""

    ok: bool = False
    trace_id: str
    error_code: str
    error: str


# --- requests -------------------------------------------------------------------------


class NameIn(Wire):
    """``POST /clients`` and ``POST /integrations``: ``{name}``."""

    name: Name


class InboundIn(Wire):
    """``POST /inbound``: the seed's ``{from, text}`` plus an optional idempotency key."""

    sender: UserId = Field(alias="from", description="the user's id within the integration")
    text: Text = Field(description="at most RELAY_MAX_TEXT_CHARS (else 413)")
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="or the Idempotency-Key header (both: they must agree)"
    )


class SendIn(Wire):
    """``POST /send``: the seed's ``{to, text, conversationId}`` plus key and acks."""

    to: UserId | None = Field(default=None, description="must be the conversation's user")
    text: Text
    conversation_id: Id | None = Field(default=None, description="or give 'to' alone")
    idempotency_key: IdempotencyKey | None = None
    ack_ids: list[Id] | None = Field(
        default=None,
        max_length=1000,
        description="ack these messages; default: this conversation's delivered messages",
    )


class AckIn(Wire):
    """``POST /ack``: ids of messages this client polled."""

    ids: list[Id] = Field(min_length=1, max_length=1000)


# --- responses ------------------------------------------------------------------------


class MessageOut(Wire):
    """The seed's Message plus ``seq`` (order, outbox cursor) and ``deliveryCount``."""

    id: str
    conversation_id: str
    client_id: str | None
    sender: str = Field(alias="from")
    to: str
    text: str
    timestamp: int
    seq: int
    delivery_count: int


class InboundOut(MessageOut, Ok):
    """``POST /inbound``: the stored Message (a retry with the same key: the same one)."""


class MessagesOut(Ok):
    """``GET /poll``: ``{messages}``."""

    messages: list[MessageOut]


class OutboxOut(MessagesOut):
    """``GET /outbox``: replies after the cursor; pass ``cursor`` back as ``?after=``."""

    cursor: int


class SendOut(Ok):
    """``POST /send``: ``{ok, message}``."""

    message: MessageOut


class AckOut(Ok):
    """``POST /ack``: how many of the ids were leased to this client and are now acked."""

    acked: int


class ConversationBase(Wire):
    """The seed's Conversation fields plus ``integrationId`` and ``state``."""

    id: str
    user_id: str
    client_id: str | None
    integration_id: str
    state: str
    created_at: int
    updated_at: int


class ConversationOut(ConversationBase, Ok):
    """``GET /conversations/{id}``: with its whole history."""

    messages: list[MessageOut]


class ConversationSummary(ConversationBase):
    """One row of ``GET /conversations``: no history, counts instead."""

    message_count: int
    pending: int


class ConversationsOut(Ok):
    """``GET /conversations``."""

    conversations: list[ConversationSummary]


class ClientOut(Wire):
    """One row of ``GET /clients`` (never a token)."""

    id: str
    name: str
    state: str
    pending: int
    created_at: int
    last_seen_at: int | None
    revoked_at: int | None


class ClientsOut(Ok):
    """``GET /clients``."""

    clients: list[ClientOut]


class ClientCreated(Ok):
    """``POST /clients``: the seed's ``{clientId, token, name}``; the token is shown once."""

    client_id: str
    token: str
    name: str
    created_at: int
    signing_key: str | None = Field(
        default=None,
        description="the key of /ws's signed hello, shown once (null without RELAY_SIGNING_SECRET)",
    )


class SigningKeyOut(Ok):
    """``POST /clients/{id}/signing-key``: the client's new signing key, shown once."""

    client_id: str
    signing_key: str
    created_at: int


class IntegrationOut(Wire):
    """One row of ``GET /integrations`` (never a token)."""

    id: str
    name: str
    created_at: int
    revoked_at: int | None


class IntegrationsOut(Ok):
    """``GET /integrations``."""

    integrations: list[IntegrationOut]


class IntegrationCreated(Ok):
    """``POST /integrations``: the inbound token is shown once."""

    integration_id: str
    token: str
    name: str
    created_at: int


class RevokedOut(Ok):
    """``DELETE /clients/{id}``, ``DELETE /integrations/{id}``."""

    id: str
    revoked_at: int


class HealthOut(Ok):
    """``GET /health``: the seed's counts plus counts per state."""

    server: str
    version: str
    clients: int
    conversations: int
    client_states: dict[str, int]
    conversation_states: dict[str, int]


# --- batches (a superset of the seed's API: the single routes are unchanged) ----------

# Items per batch request; the body limit (RELAY_MAX_BODY_BYTES) applies to the whole batch.
MAX_BATCH_ITEMS = 500


class InboundBatchIn(Wire):
    """``POST /inbound/batch``: ``{messages: [{from, text, idempotencyKey?}, ...]}``."""

    messages: list[InboundIn] = Field(
        min_length=1, max_length=MAX_BATCH_ITEMS, description="stored in one transaction"
    )


class SendBatchIn(Wire):
    """``POST /send/batch``: ``{messages: [{to?, text, conversationId?, idempotencyKey?,
    ackIds?}, ...]}``."""

    messages: list[SendIn] = Field(
        min_length=1, max_length=MAX_BATCH_ITEMS, description="stored in one transaction"
    )


class BatchItemOut(Wire):
    """One item's outcome, in the order of the request: ``{ok: true, status: 200,
    message}`` or ``{ok: false, status, error_code, error}`` (+ ``retryAfter``, seconds,
    for 429)."""

    ok: bool
    status: int
    message: MessageOut | None = None
    error_code: str | None = Field(default=None, alias="error_code")
    error: str | None = None
    retry_after: int | None = None


class BatchOut(Ok):
    """``POST /inbound/batch``, ``POST /send/batch``: ``results`` (one per item, in order),
    ``stored`` (how many items are stored now, retries of a key included)."""

    results: list[BatchItemOut]
    stored: int
