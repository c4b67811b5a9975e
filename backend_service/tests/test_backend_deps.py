"""deps.py: one getter per ``app.state`` object, each named, documented, overridable alone."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from clawdeploy_backend import deps

GETTERS = {
    "settings": deps.get_settings,
    "gateway_prober": deps.get_gateway_prober,
    "templates": deps.get_templates,
    "store": deps.get_store,
    "audit": deps.get_audit,
    "model_sync": deps.get_model_sync,
    "gateway_monitor": deps.get_gateway_monitor,
    "memory_guard": deps.get_memory_guard,
    "executor": deps.get_executor,
    "metrics": deps.get_metrics,
}


def test_getters_are_distinct_named_and_documented():
    assert len(set(GETTERS.values())) == len(GETTERS)
    for attr, getter in GETTERS.items():
        assert getter.__name__ == f"get_{attr}"
        assert getter.__doc__


def test_getters_read_app_state_and_can_be_overridden_one_by_one():
    app = FastAPI()
    for attr in GETTERS:
        setattr(app.state, attr, f"<{attr}>")

    @app.get("/state")
    def state(
        settings: Annotated[Any, Depends(deps.get_settings)],
        executor: Annotated[Any, Depends(deps.get_executor)],
        metrics: Annotated[Any, Depends(deps.get_metrics)],
    ) -> list[str]:
        return [settings, executor, metrics]

    client = TestClient(app)
    assert client.get("/state").json() == ["<settings>", "<executor>", "<metrics>"]
    app.dependency_overrides[deps.get_executor] = lambda: "override"
    assert client.get("/state").json() == ["<settings>", "override", "<metrics>"]
