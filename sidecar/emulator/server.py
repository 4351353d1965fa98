"""Serve the emulator over real HTTP on loopback in a background thread.

    with EmulatorServer() as emulator:
        requests.post(f"{emulator.url}/auth/o2/token", data=...)
        emulator.state.seed_order(...)
"""

from __future__ import annotations

import threading
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sidecar.emulator.app import create_emulator_app
from sidecar.emulator.config import Clock, EmulatorConfig
from sidecar.emulator.state import EmulatorState


class QuietRequestHandler(WSGIRequestHandler):
    """No access log line per request (tests and benchmarks make thousands)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class EmulatorServer:
    """The emulator on ``host:port`` (port 0: a free port), threaded, in a daemon thread."""

    def __init__(self, state: EmulatorState | None = None, config: EmulatorConfig | None = None,
                 *, clock: Clock | None = None, host: str = "127.0.0.1", port: int = 0,
                 access_log: bool = False) -> None:
        if state is None:
            state = EmulatorState(config, clock)
        elif config is not None:
            state.configure(config)
        self.state = state
        self.app = create_emulator_app(state)
        self._host = host
        self._port = port
        self._handler = WSGIRequestHandler if access_log else QuietRequestHandler
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator server is not running")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (SP-API endpoint and LWA host)."""
        return f"http://{self._host}:{self.port}"

    @property
    def lwa_url(self) -> str:
        return f"{self.url}/auth/o2/token"

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        self.state.open()
        self._server = make_server(self._host, self._port, self.app, threaded=True,
                                   request_handler=self._handler)
        # ThreadedWSGIServer already uses daemon threads (a hanging request never blocks exit)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name=f"sp-api-emulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self.state.close()  # wake hanging requests
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
