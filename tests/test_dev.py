"""`durasumi dev`: one command for the whole stack; a restart finds earlier jobs.

And it never leaves a `temporal` server behind: not when a port is taken or the home is in
use (refused before anything starts), not when startup fails halfway, not on SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

from durasumi.workers.devserver import free_port
from tests.conftest import ROOT


class Dev:
    def __init__(self, home: Path) -> None:
        self.env = {
            **os.environ,
            "DURASUMI_HOME": str(home),
            "DURASUMI_DEV_TEMPORAL_PORT": str(free_port()),
            "DURASUMI_DEV_UI_PORT": str(free_port()),
            "DURASUMI_DEV_TEMPORAL_HTTP_PORT": str(free_port()),
            "DURASUMI_API_PORT": str(free_port()),
            "PYTHONPATH": str(ROOT),
            "COLUMNS": "200",
        }
        self.env.pop("DURASUMI_TEMPORAL_ADDRESS", None)
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.env['DURASUMI_DEV_TEMPORAL_HTTP_PORT']}"

    @property
    def temporal_port(self) -> int:
        return int(self.env["DURASUMI_DEV_TEMPORAL_PORT"])

    async def run(self, timeout: float = 90) -> tuple[int, str, str, float]:
        """Run `durasumi dev` to its end: (exit code, stdout, stderr, seconds)."""
        t0 = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "dev", cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        return proc.returncode or 0, out.decode(), err.decode(), time.monotonic() - t0

    async def cli(self, *args: str) -> tuple[int, str, str]:
        env = self.env | {
            "DURASUMI_TEMPORAL_ADDRESS": f"127.0.0.1:{self.env['DURASUMI_DEV_TEMPORAL_PORT']}",
            "DURASUMI_TEMPORAL_HTTP_URL": self.http_url,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode(), err.decode()

    async def start(self) -> str:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durasumi.cli.main", "dev", cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        banner = ""
        while "worker running" not in banner:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            assert line, f"dev exited early: {banner}"
            banner += line.decode()
        return banner

    async def stop(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(self.proc.stdout.read(), 60)
        await self.proc.wait()
        return rest.decode()


async def fetch_when_up(url: str) -> bytes:
    for _ in range(100):
        try:
            return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
        except OSError:  # connection refused while uvicorn starts
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered")


async def wait_status(dev: Dev, job_id: str, status: str) -> None:
    for _ in range(100):
        code, out, _ = await dev.cli("status", job_id, "--json")
        if code == 0 and json.loads(out)["status"] == status:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{job_id} never reached {status}")


async def test_dev_stack_survives_a_restart(tmp_path: Path) -> None:
    dev = Dev(tmp_path)
    banner = await dev.start()
    try:
        ui = f"http://127.0.0.1:{dev.env['DURASUMI_DEV_UI_PORT']}"
        assert ui in banner and "trip-planner" in banner
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(ui, timeout=10).read())
        assert b"<html" in body.lower()
        api = f"http://127.0.0.1:{dev.env['DURASUMI_API_PORT']}"
        assert f"{api}/docs" in banner
        avail = await fetch_when_up(f"{api}/agents/trip-planner/availability")
        assert json.loads(avail)["status"] == "available"

        code, out, err = await dev.cli("start", "trip-planner", "-F", "destination=Lima", "--json")
        assert code == 0, err
        job_id = json.loads(out)["job_id"]
        await wait_status(dev, job_id, "awaiting_input")
    finally:
        tail = await dev.stop()
    assert "dev stack stopped" in tail
    assert (tmp_path / "temporal.db").exists()

    await dev.start()
    try:
        await wait_status(dev, job_id, "awaiting_input")  # the earlier job is still there
        assert (await dev.cli("signal", job_id, "-F", "adults=1", "-F", "children=false"))[0] == 0
        await wait_status(dev, job_id, "awaiting_input")
        assert (await dev.cli("signal", job_id, "-F", "level=comfort"))[0] == 0
        await wait_status(dev, job_id, "completed")
        code, out, _ = await dev.cli("list", "--json")
        assert [r["job_id"] for r in json.loads(out)] == [job_id]
    finally:
        await dev.stop()


def temporal_servers(port: int) -> list[int]:
    """Live (not zombie) `temporal server start-dev` processes serving gRPC on ``port``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile
            continue
        if b"start-dev" in argv and str(port).encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


async def no_temporal_left(dev: Dev, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while temporal_servers(dev.temporal_port):
        if time.monotonic() > deadline:
            raise AssertionError(f"temporal still running: {temporal_servers(dev.temporal_port)}")
        await asyncio.sleep(0.1)
    with socket.socket() as sock:  # and its port is free again
        sock.bind(("127.0.0.1", dev.temporal_port))


async def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    dev = Dev(tmp_path)
    api_port = int(dev.env["DURASUMI_API_PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", api_port))
        taken.listen()
        code, _, err, seconds = await dev.run()
    assert code == 2, err
    assert f"port {api_port}" in err and "DURASUMI_API_PORT" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert seconds < 15  # refused before starting Temporal
    assert not (tmp_path / "temporal.db").exists()
    await no_temporal_left(dev)


async def test_a_second_stack_on_the_same_home_names_the_first(tmp_path: Path) -> None:
    first = Dev(tmp_path)
    await first.start()
    try:
        second = Dev(tmp_path)  # other ports: the home alone is the conflict
        code, _, err, _ = await second.run()
        assert code == 2, err
        assert first.proc is not None and f"pid {first.proc.pid}" in err
        assert str(tmp_path) in err and "Traceback" not in err
        assert not temporal_servers(second.temporal_port)
        # The quick reads go through the stack's HTTP API, decrypting with its keyring.
        code, out, _ = await first.cli("list", "--json")
        assert code == 0 and json.loads(out) == []
    finally:
        await first.stop()
    await no_temporal_left(first)


async def test_a_failure_after_temporal_started_stops_it(tmp_path: Path) -> None:
    dev = Dev(tmp_path)
    dev.env["DURASUMI_DATABASE_URL"] = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x"
    code, out, err, _ = await dev.run()
    assert code == 1, err
    assert "Temporal" in out  # it got as far as starting the server
    assert "cannot record the agents in the app database" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    await no_temporal_left(dev)


async def test_sigterm_during_startup_stops_promptly(tmp_path: Path) -> None:
    dev = Dev(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "durasumi.cli.main", "dev", cwd=ROOT, env=dev.env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not temporal_servers(dev.temporal_port):  # the server is starting
        assert time.monotonic() < deadline and proc.returncode is None
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 15)
    await no_temporal_left(dev)


async def test_sigkill_leaves_no_temporal_server(tmp_path: Path) -> None:
    dev = Dev(tmp_path)
    await dev.start()
    assert dev.proc is not None and temporal_servers(dev.temporal_port)
    dev.proc.kill()
    await dev.proc.wait()
    await no_temporal_left(dev)
    # The kernel dropped the home's lock with the process: a new stack starts.
    again = Dev(tmp_path)
    again.env = dev.env
    await again.start()
    await again.stop()


async def test_ctrl_c_as_the_workers_start_stops_at_once(tmp_path: Path) -> None:
    # Ctrl-C just after the workers are created, before they installed their handlers:
    # asyncio.run would cancel them mid-start and the process would never exit.
    dev = Dev(tmp_path)
    await dev.start()
    t0 = time.monotonic()
    rest = await dev.stop()
    assert "dev stack stopped" in rest and time.monotonic() - t0 < 30
    assert dev.proc is not None and dev.proc.returncode == 0
    await no_temporal_left(dev)
