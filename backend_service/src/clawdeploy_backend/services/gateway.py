"""Live probe of the OpenClaw gateway, shared with the collection's Ansible modules.

The probe itself is ``plugins/module_utils/probe.py`` of the collection, installed with this
package as ``clawdeploy_backend.gateway_probe`` (a symlink in the source tree), so the
status page, the ``openclaw_probe`` module and the status playbook diagnose alike.
"""

from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from .. import gateway_probe
from ..redact import mask_secrets
from ..settings import Settings

ProbeFn = Callable[..., dict[str, Any]]


class GatewayProber:
    """Probes one gateway with its token; blocking (urllib), so call it off the event loop.

    ``probe_fn`` defaults to ``gateway_probe.probe_gateway``; tests may pass another with
    the same signature. ``mask`` lists further secrets to strip from every result (the
    backend's own API token), on top of the gateway token.
    """

    def __init__(
        self,
        base_url: str,
        token: SecretStr | None,
        *,
        timeout_s: float = 20.0,
        model: str = "openclaw",
        mask: tuple[SecretStr | None, ...] = (),
        probe_fn: ProbeFn | None = None,
    ) -> None:
        self.base_url = base_url
        self._token = token
        self._timeout_s = timeout_s
        self._model = model
        self._mask = (token, *mask)
        self._probe_fn = probe_fn or gateway_probe.probe_gateway

    @classmethod
    def from_settings(cls, settings: Settings) -> "GatewayProber":
        """Build the prober for the gateway that ``settings`` name."""
        return cls(
            settings.openclaw_gateway_url,
            settings.openclaw_gateway_token,
            timeout_s=settings.gateway_probe_timeout_s,
            model=settings.gateway_agent_model,
            mask=(settings.backend_api_token,),
        )

    def probe(self) -> dict[str, Any]:
        """Probe the gateway once (``/healthz``, then a real ``POST /v1/responses``).

        Returns the probe's dict: ``{"diagnosis", "ok", "http_status", "latency_ms",
        "fix", "detail", "reply", "health", "failing", ...}`` with every token masked.
        Never raises for a gateway problem: those are diagnoses.
        """
        token = self._token.get_secret_value() if self._token is not None else None
        result = self._probe_fn(self.base_url, token, timeout=self._timeout_s, model=self._model)
        secrets = [s.get_secret_value() for s in self._mask if s is not None]
        return mask_secrets(result, secrets)
