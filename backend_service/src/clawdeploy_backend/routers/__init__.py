"""HTTP routes of backend-service, one module per area; logic lives in ``services``."""
