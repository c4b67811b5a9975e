"""Logic of backend-service, free of HTTP: routers call these and shape the responses."""
