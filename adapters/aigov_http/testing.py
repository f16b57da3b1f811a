"""Serving an app for tests and measurements: uvicorn on a free port of 127.0.0.1, on one event
loop in a thread of this process, so that calls go over real TCP and the app's connections
belong to one loop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

__all__ = ["serving"]


@contextmanager
def serving(app: ASGIApp, *, start_timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` until the block ends (its shutdown runs then, on the server's loop); the
    base URL, ``http://127.0.0.1:<port>``."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped before it started")
        if time.monotonic() > deadline:
            raise TimeoutError(f"uvicorn did not start in {start_timeout} s")
        time.sleep(0.01)
    host, port = listening.getsockname()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        listening.close()
