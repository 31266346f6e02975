"""`durasumi dev`: one command for the whole stack; a restart finds earlier jobs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
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
            "DURASUMI_API_PORT": str(free_port()),
            "PYTHONPATH": str(ROOT),
            "COLUMNS": "200",
        }
        self.env.pop("DURASUMI_TEMPORAL_ADDRESS", None)
        self.proc: asyncio.subprocess.Process | None = None

    async def cli(self, *args: str) -> tuple[int, str, str]:
        env = self.env | {
            "DURASUMI_TEMPORAL_ADDRESS": f"127.0.0.1:{self.env['DURASUMI_DEV_TEMPORAL_PORT']}"
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
