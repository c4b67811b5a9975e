"""The client WebSocket transport (``/ws``): frame formats and the per-socket session."""
