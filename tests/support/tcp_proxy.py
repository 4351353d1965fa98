"""A TCP forwarder on loopback that can fail like a real network, for database outage tests.

    proxy = tcp_proxy.start(("127.0.0.1", 3306))   # listens on proxy.port
    proxy.blackhole()    # silent drop: every connection, open or new, stops answering (bytes
                         # are read and discarded, nothing is closed), new ones are accepted
    proxy.heal()         # new connections work again; the blackholed ones stay dead, as after
                         # a real silent drop (the client must time out and reconnect)
    proxy.reset_all()    # every open connection is reset (RST), as after a server restart
    proxy.stop()

`proxy.url(database_url)` rewrites a SQLAlchemy URL to go through the proxy. Also a context
manager (`with tcp_proxy.start(...) as proxy:`).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from types import TracebackType

from sqlalchemy.engine import make_url


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket, frozen: bool) -> None:
        self.client = client
        self.server = server
        self.frozen = frozen
        self.closed = False

    def close(self, *, reset: bool = False) -> None:
        self.closed = True
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                if reset:  # SO_LINGER 0: close sends RST, not FIN
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # accept() wakes up to see stop()
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._blackholed = False
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop, "tcp-proxy-accept")

    # ------------------------------------------------------------------- API

    def blackhole(self) -> None:
        with self._lock:
            self._blackholed = True
            for pair in self._pairs:
                pair.frozen = True

    def heal(self) -> None:
        with self._lock:
            self._blackholed = False

    def reset_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.close(reset=True)

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.reset_all()
        for t in self._threads:
            t.join(timeout=5)

    def url(self, database_url: str) -> str:
        """database_url with host and port replaced by the proxy's."""
        u = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return u.render_as_string(hide_password=False)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for p in self._pairs if not p.closed)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- internals

    def _spawn(self, target: object, name: str, *args: object) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                frozen = self._blackholed
            if frozen:
                server = socket.socket()  # never connected: the client just waits
            else:
                try:
                    server = socket.create_connection(self.target, timeout=5)
                    server.settimeout(None)
                except OSError:
                    client.close()
                    continue
            pair = _Pair(client, server, frozen)
            with self._lock:
                self._pairs.append(pair)
            self._spawn(self._pump, "tcp-proxy-pump", pair)

    def _pump(self, pair: _Pair) -> None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(pair.client, selectors.EVENT_READ, pair.server)
            if pair.server.fileno() != -1 and not pair.frozen:
                sel.register(pair.server, selectors.EVENT_READ, pair.client)
            while not pair.closed and not self._stopped.is_set():
                for key, _ in sel.select(timeout=0.1):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        pair.close()
                        return
                    if pair.frozen:
                        continue  # silently dropped
                    key.data.sendall(data)
        except (OSError, ValueError):
            pair.close()
        finally:
            sel.close()


def start(target: tuple[str, int]) -> TcpProxy:
    """A proxy on a free loopback port forwarding to target (host, port)."""
    return TcpProxy(target)


def target_of(database_url: str) -> tuple[str, int]:
    u = make_url(database_url)
    return (u.host or "127.0.0.1", u.port or 3306)
