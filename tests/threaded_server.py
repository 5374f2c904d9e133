"""An ASGI app served by uvicorn on a free port of 127.0.0.1 from a background thread (the
fake Bot API and the fake WeChat API of the tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (as long as nobody takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name
        self.port = 0
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None

    def start(self, on_loop: Callable[[asyncio.AbstractEventLoop], None] = lambda _: None) -> int:
        """Serve until `stop`; `on_loop` runs first in the server's new event loop. Returns
        the port."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = server = uvicorn.Server(config)

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            on_loop(loop)
            loop.run_until_complete(server.serve(sockets=[sock]))
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
