"""The gateway's HTTP side: one ``POST /v1/responses`` per user message.

``Authorization: Bearer <OPENCLAW_GATEWAY_TOKEN>`` (OpenClaw docs
``gateway/openresponses-http-api.md``, shared-secret auth), JSON body from
:func:`.openresponses.request_body`, answer judged by :func:`.openresponses.parse_answer`.
Proxies from the environment are ignored: the gateway runs on this host, and its token
must not travel anywhere else.
"""

import httpx

from .. import __version__
from .errors import GatewayError
from .openresponses import parse_answer, request_body

PATH = "/v1/responses"


class GatewayClient:
    """Ask one OpenClaw gateway for replies.

    :param base_url: gateway root, e.g. ``http://127.0.0.1:18789``.
    :param token: the gateway token; sent only in the Authorization header.
    :param model: the OpenResponses ``model`` (``openclaw`` or ``openclaw/<agentId>``).
    :param timeout_s: seconds for the whole request (an agent run can take minutes).
    """

    def __init__(self, base_url: str, token: str, model: str, timeout_s: float) -> None:
        self.model = model
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": f"clawdeploy-relay-connector/{__version__}",
            },
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            trust_env=False,
        )

    async def respond(self, conversation_id: str, text: str) -> str:
        """The agent's reply to ``text`` in the session of ``conversation_id`` ("" if none).

        :raises GatewayError: kind ``unavailable`` when no HTTP answer came (refused,
            reset, timeout), else as :func:`.openresponses.parse_answer` decides.
        """
        body = request_body(self.model, text, conversation_id)
        try:
            response = await self._http.post(PATH, json=body)
        except httpx.TimeoutException:
            raise GatewayError("unavailable", "the gateway did not answer in time") from None
        except httpx.TransportError as exc:
            raise GatewayError(
                "unavailable", f"cannot reach the gateway: {type(exc).__name__}"
            ) from None
        return parse_answer(
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            response.headers.get("retry-after"),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
