# Copyright (c) 2026 ClawDeploy maintainers
# MIT License (see LICENSE)
"""The state of gateway containers, read without their environment.

``docker inspect`` (and community.docker's container info) return a container's whole
configuration, environment included, which holds the gateway token and the provider keys.
The status and backup tasks ask Docker for three fields only (the gateway role's
``_gateway_state_format``)::

    docker inspect --type container --format '{{.Name}} {{.State.Status}}
      {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}} {{.Config.Image}}' NAME...

and this filter reads that output (one line per container that exists; Docker names the
missing ones on stderr).
"""

from __future__ import annotations

from typing import Any, Dict


def openclaw_container_states(output: str) -> Dict[str, Dict[str, Any]]:
    """Map container name -> ``{status, health, image, version, running, label}``.

    ``health`` is ``none`` for a container without a health check; ``label`` is what the
    status table shows, e.g. ``running/healthy`` or ``running/starting``; ``version`` is
    the image tag (``2026.9.6``).
    """
    states: Dict[str, Dict[str, Any]] = {}
    for line in (output or "").splitlines():
        fields = line.split()
        if len(fields) != 4:
            continue
        name, status, health, image = fields
        health = "none" if health == "-" else health
        states[name.lstrip("/")] = {
            "status": status,
            "health": health,
            "image": image,
            "version": image.rpartition(":")[2] if ":" in image else "-",
            "running": status == "running",
            "label": status if health == "none" else "%s/%s" % (status, health),
        }
    return states


class FilterModule:
    """Container state filters."""

    def filters(self) -> Dict[str, Any]:
        return {"openclaw_container_states": openclaw_container_states}
