"""Serve the fake over real HTTP from a background thread (werkzeug, threaded, silent)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["FakeServer", "serve_in_thread"]


class _QuietHandler(WSGIRequestHandler):
    """No access log lines (tests and benchmarks stay quiet)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def log(self, type: str, message: str, *args: Any) -> None:
        return None


class FakeServer:
    """A running server: ``url`` (``http://host:port``), ``port``, ``shutdown()``.

    Usable as a context manager.
    """

    def __init__(self, server: BaseWSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.host = str(server.host)
        self.port = int(server.port)
        self.url = f"http://{self.host}:{self.port}"

    def shutdown(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def serve_in_thread(app: Flask, *, host: str = "127.0.0.1", port: int = 0) -> FakeServer:
    """Serve ``app`` with werkzeug's threaded server in a daemon thread.

    ``port=0`` picks a free port (read it from ``.url``/``.port``). When the app's tenant
    has no ``base_url``, URLs in answers follow the request's ``Host`` header.
    """
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, name=f"sf-fake-{server.port}", daemon=True
    )
    thread.start()
    return FakeServer(server, thread)
