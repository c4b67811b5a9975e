"""Authentication, one module per kind: ``bearer`` checks the API bearer token
(``Authorization: Bearer <BACKEND_API_TOKEN>``) of ``/api/v1`` and ``/metrics``;
``web_session`` keeps the login sessions (cookie, CSRF) of the ``/web`` pages.
"""
