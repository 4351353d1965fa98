"""A throwaway MariaDB server for the test suites.

    python -m tests.support.mariadb -- <command> [args...]

starts `mariadbd` from the installed binaries in a temporary directory on a free loopback
port, exports TEST_DATABASE_URL (SQLAlchemy) and TEST_DB_HOST/PORT/USER/PASSWORD (PHP),
runs the command, stops the server and exits with the command's status. When
TEST_DATABASE_URL is already set, the command runs against that server instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BINARY_CANDIDATES = ("mariadbd", "mysqld")
INSTALL_DB_CANDIDATES = ("mariadb-install-db", "mysql_install_db")
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])


class MariaDBUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str = "root"
    password: str = ""

    @property
    def url(self) -> str:
        return f"mysql+pymysql://{self.user}@{self.host}:{self.port}/"

    def env(self) -> dict[str, str]:
        return {
            "TEST_DATABASE_URL": self.url,
            "TEST_DB_HOST": self.host,
            "TEST_DB_PORT": str(self.port),
            "TEST_DB_USER": self.user,
            "TEST_DB_PASSWORD": self.password,
        }


def _which(names: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name, path=SEARCH_PATH)
        if found:
            return found
    raise MariaDBUnavailable(
        f"none of {', '.join(names)} found; install Debian's mariadb-server (make test does)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import pymysql

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MariaDBUnavailable(f"mariadbd exited early:\n{log.read_text(errors='replace')}")
        try:
            pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1).close()
            return
        except pymysql.err.OperationalError:
            # readiness poll on a just-started process, not a test wait
            time.sleep(0.1)
    raise MariaDBUnavailable(
        f"mariadbd not ready after {timeout}s:\n{log.read_text(errors='replace')}"
    )


@contextlib.contextmanager
def throwaway_server(timeout: float = 60.0) -> Iterator[Server]:
    mariadbd = _which(BINARY_CANDIDATES)
    install_db = _which(INSTALL_DB_CANDIDATES)
    root = Path(tempfile.mkdtemp(prefix="refund-bridge-mariadb-"))
    datadir, log = root / "data", root / "mariadbd.log"
    user_args = ["--user=root"] if os.geteuid() == 0 else []
    try:
        subprocess.run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *user_args,
            ],
            check=True,
            capture_output=True,
        )
        port = _free_port()
        proc = subprocess.Popen(
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={root / 'mysqld.sock'}",
                f"--pid-file={root / 'mysqld.pid'}",
                f"--log-error={log}",
                "--bind-address=127.0.0.1",
                f"--port={port}",
                "--skip-grant-tables",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=256M",
                "--innodb-flush-log-at-trx-commit=2",
                "--innodb-log-file-size=64M",
                "--max-connections=500",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                *user_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(port, proc, log, timeout)
            yield Server("127.0.0.1", port)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if os.environ.get("TEST_DATABASE_URL"):
        return subprocess.call(argv)
    with throwaway_server() as server:
        print(f"throwaway MariaDB on {server.host}:{server.port}", file=sys.stderr, flush=True)
        return subprocess.call(argv, env={**os.environ, **server.env()})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
