"""Serve a :class:`Simulator` over a real socket on loopback (uvicorn in a background thread)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from tiktok_assets.simulator.app import Simulator

_STARTUP_TIMEOUT_SECONDS = 15.0
_INJECTED_RESET_LOG = "ASGI callable returned without completing response."


class _InjectedResetFilter(logging.Filter):
    # The connection_reset fault stops a response half-way on purpose; uvicorn
    # logs that as an error, which would read like a simulator bug.
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _INJECTED_RESET_LOG


_RESET_FILTER = _InjectedResetFilter()


@contextmanager
def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning") -> Iterator[str]:
    """Run ``sim`` on ``host:port`` (0 picks a free port) and yield its base URL, e.g. "http://127.0.0.1:54321".

    The server stops when the block exits (in-flight requests get a couple of
    seconds to finish).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise OSError(f"Cannot listen on {host}:{port} for the simulator ({error}); pick another --port") from None
    bound_port = listener.getsockname()[1]
    config = uvicorn.Config(sim.asgi_app, host=host, port=bound_port, lifespan="off", interface="asgi3", log_level=log_level,
                            access_log=False, timeout_graceful_shutdown=2, timeout_keep_alive=5)
    server = uvicorn.Server(config)
    logging.getLogger("uvicorn.error").addFilter(_RESET_FILTER)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name=f"tiktok-simulator-{bound_port}",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            listener.close()
            raise RuntimeError(f"The simulator server on {host}:{bound_port} did not start; see the uvicorn log above")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
