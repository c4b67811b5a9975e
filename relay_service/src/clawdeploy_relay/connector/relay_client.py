"""The relay's client routes, as the connector uses them (README "Routes", ``routers/``).

* ``GET /poll?wait=<s>&ack=explicit`` → ``{messages: [Message]}``: messages leased to this
  client (in order per conversation); nothing is acked until ``/send``'s ``ackIds`` or
  ``POST /ack``.
* ``POST /send {conversationId, to, text, idempotencyKey, ackIds}`` → ``{ok, message}``;
  a retry with the same key and text returns the first reply, with another text 409
  ``idempotency_conflict``.
* ``POST /ack {ids}`` → ``{acked}``.

Every call sends ``Authorization: Bearer <client token>``. Failures raise
:class:`~.errors.RelayError`: ``unavailable`` (no answer, 5xx, 429 with ``Retry-After``),
``auth`` (401/403), ``rejected`` (other 4xx, with the envelope's ``error_code``).
"""

from dataclasses import dataclass
from typing import Any

import httpx

from .. import __version__
from .errors import RelayError, retry_after


@dataclass(frozen=True)
class InboundMessage:
    """A user's message as ``GET /poll`` gives it (the seed's Message, camelCase on the wire).

    ``delivery_count`` is 1 on the first delivery; more means an earlier lease ran out
    un-acked (a crash, a stop, a slow gateway), so a reply may already be stored.
    """

    id: str
    conversation_id: str
    sender: str
    text: str
    delivery_count: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "InboundMessage":
        """Build from a Message object; raises KeyError/TypeError on a malformed one."""
        return cls(
            id=str(data["id"]),
            conversation_id=str(data["conversationId"]),
            sender=str(data["from"]),
            text=str(data["text"]),
            delivery_count=int(data.get("deliveryCount") or 1),
        )


class RelayClient:
    """Poll, send and ack on one relay with one client token.

    :param base_url: relay root, e.g. ``https://relay.example.net``.
    :param token: the client token (``rc_…``); sent only in the Authorization header.
    :param timeout_s: seconds for a request; a long-poll gets its ``wait`` on top.
    """

    def __init__(self, base_url: str, token: str, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"clawdeploy-relay-connector/{__version__}",
            },
            timeout=timeout_s,
        )

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise RelayError("unavailable", f"{method} {path}: no answer in time") from None
        except httpx.TransportError as exc:
            raise RelayError("unavailable", f"{method} {path}: {type(exc).__name__}") from None
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status == 200 and isinstance(body, dict):
            return body
        code = str(body.get("error_code", "")) if isinstance(body, dict) else ""
        where = f"{method} {path} answered HTTP {status} {code}".rstrip()
        if status in (401, 403):
            raise RelayError("auth", f"{where}: the relay refused the client token", status, code)
        if status == 429 or status >= 500 or status == 200:
            wait = retry_after(response.headers.get("retry-after"))
            raise RelayError("unavailable", where, status, code, wait)
        raise RelayError("rejected", where, status, code)

    async def poll(self, wait_s: float) -> list[InboundMessage]:
        """Lease the next messages, waiting up to ``wait_s`` seconds for one."""
        body = await self._call(
            "GET",
            "/poll",
            params={"wait": f"{wait_s:g}", "ack": "explicit"},
            timeout=httpx.Timeout(self._timeout_s, read=wait_s + self._timeout_s),
        )
        try:
            return [InboundMessage.from_json(m) for m in body.get("messages") or []]
        except (KeyError, TypeError, ValueError):
            raise RelayError("unavailable", "GET /poll answered malformed messages") from None

    async def heartbeat(self) -> None:
        """Tell the relay this client is alive without taking anything (``GET /poll?max=0``).

        :raises RelayError: as :meth:`poll`.
        """
        await self._call("GET", "/poll", params={"max": "0", "ack": "explicit"})

    async def send(
        self, message: InboundMessage, text: str, key: str, ack_ids: list[str]
    ) -> dict[str, Any]:
        """Store ``text`` as the reply to ``message``; ack exactly ``ack_ids`` with it."""
        body = {
            "conversationId": message.conversation_id,
            "to": message.sender,
            "text": text,
            "idempotencyKey": key,
            "ackIds": ack_ids,
        }
        return await self._call("POST", "/send", json=body)

    async def ack(self, ids: list[str]) -> int:
        """Ack ``ids``; return how many were leased to this client and are now acked."""
        body = await self._call("POST", "/ack", json={"ids": ids})
        return int(body.get("acked", 0))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
