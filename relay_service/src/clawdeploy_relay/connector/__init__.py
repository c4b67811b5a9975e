"""The connector: bridges ONE OpenClaw gateway instance to the relay (issue 12).

It long-polls the relay with the instance's client token (``GET /poll?ack=explicit``),
asks the gateway's OpenResponses endpoint (``POST /v1/responses``) for each message with
one OpenClaw session per relay conversation, posts the reply (``POST /send`` with an
idempotency key derived from the inbound message id) and acks. Nothing is acked before
its reply is stored, so a gateway or relay outage, a crash or a SIGTERM loses nothing: the
relay's lease delivers the message again.

Modules: :mod:`.settings` (``CONNECTOR_*``), :mod:`.openresponses` (the gateway's wire
format), :mod:`.gateway` and :mod:`.relay_client` (HTTP), :mod:`.errors`, :mod:`.backoff`,
:mod:`.stop`, :mod:`.ask` (the gateway with retries), :mod:`.deliver` (send and ack with
retries), :mod:`.handler` (one message, one log line), :mod:`.dispatch` (per-conversation
order, concurrency, cancels), :mod:`.runner` (the poll loop or the WebSocket loop,
shutdown), :mod:`.websocket` (a WebSocket client on wsproto) and :mod:`.ws_client` (the
relay's ``/ws`` frames, ``CONNECTOR_TRANSPORT=ws``), :mod:`.logs`, :mod:`.main` (the
``clawdeploy-relay-connector`` entry point).
"""
