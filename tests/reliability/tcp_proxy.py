"""A loopback TCP forwarder in front of MariaDB that can fail the way networks fail.

    with TcpProxy("127.0.0.1", 3306) as proxy:   # proxy.port forwards to 3306
        proxy.reset()       # every open connection gets a RST; new ones too, until heal()
        proxy.blackhole()   # connections accepted, nothing forwarded; resumes on heal()
        proxy.drop()        # the server side forgets every connection silently: open ones
                            # never see another byte (even after heal()), new ones stall
        proxy.heal()        # new connections work again

Threads only, loopback only; stop() closes everything.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from types import TracebackType

PASS, RESET, BLACKHOLE, DROP = "pass", "reset", "blackhole", "drop"


def _rst(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client = client
        self.upstream = upstream
        self.dead = False  # dropped: never forwards again
        self.closed = False


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode = PASS
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pairs: list[_Pair] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------- modes

    def _set(self, mode: str) -> None:
        with self._changed:
            self.mode = mode
            if mode == RESET:
                for pair in self._pairs:
                    self._close(pair, rst=True)
            if mode == DROP:
                for pair in self._pairs:
                    pair.dead = True
                    if pair.upstream is not None:  # the server forgets it (rolls back) ...
                        pair.upstream.close()
                        pair.upstream = None  # ... the client is never told
            self._changed.notify_all()

    def reset(self) -> None:
        self._set(RESET)

    def blackhole(self) -> None:
        self._set(BLACKHOLE)

    def drop(self) -> None:
        self._set(DROP)

    def heal(self) -> None:
        self._set(PASS)

    # --------------------------------------------------------------- plumbing

    def start(self) -> TcpProxy:
        t = threading.Thread(target=self._accept_loop, name=f"tcp-proxy:{self.port}",
                             daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
            for pair in self._pairs:
                self._close(pair, rst=False)
        self._listener.close()
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _close(self, pair: _Pair, *, rst: bool) -> None:  # caller holds the lock
        if pair.closed:
            return
        pair.closed = True
        for sock in (pair.client, pair.upstream):
            if sock is not None:
                if rst:
                    _rst(sock)
                else:
                    sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self.mode
            if mode == RESET:
                _rst(client)
                continue
            t = threading.Thread(target=self._serve, args=(client, mode), daemon=True)
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve(self, client: socket.socket, mode: str) -> None:
        pair = _Pair(client, None)
        with self._changed:
            self._pairs.append(pair)
            pair.dead = mode == DROP
            # blackhole: accepted, but not connected upstream until healed
            while self.mode == BLACKHOLE and not self._stop.is_set() and not pair.closed:
                self._changed.wait(0.2)
        if pair.dead or pair.closed or self._stop.is_set():
            self._hang(pair)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            with self._lock:
                self._close(pair, rst=True)
            return
        with self._lock:
            pair.upstream = upstream
        self._pump(pair)

    def _hang(self, pair: _Pair) -> None:
        """A dropped connection: read and discard nothing, answer nothing, until stopped."""
        with self._changed:
            while not self._stop.is_set() and not pair.closed:
                self._changed.wait(0.5)

    def _pump(self, pair: _Pair) -> None:
        assert pair.upstream is not None
        socks = [pair.client, pair.upstream]
        while not self._stop.is_set():
            with self._changed:
                if pair.closed:
                    return
                if pair.dead:
                    break
                while self.mode == BLACKHOLE and not self._stop.is_set() and not pair.dead:
                    self._changed.wait(0.2)  # stalled: data waits in the kernel buffers
                if pair.dead:
                    break
            try:
                readable, _, _ = select.select(socks, [], [], 0.1)
            except (OSError, ValueError):
                break
            with self._lock:
                if pair.dead or pair.closed:
                    break
            for sock in readable:
                other = pair.upstream if sock is pair.client else pair.client
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    with self._lock:
                        self._close(pair, rst=False)
                    return
                try:
                    other.sendall(data)
                except OSError:
                    with self._lock:
                        self._close(pair, rst=False)
                    return
        self._hang(pair)
