"""The Codex executor: ``service`` (:class:`~.service.ExecutorService`, the queue and its
worker), ``jobs`` (the ``executor_jobs`` table), ``policy`` (levels, working directories,
the binary, the child's environment), ``proc`` (one process group, timeout, output tail)
and ``schemas`` (the request and response bodies of ``routers/executor.py``).
"""
