"""The CLI without a server: help text, what a command imports, tables, progress, payloads."""

from __future__ import annotations

import inspect
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from temporalio.api.common.v1 import Payload

from durasumi.cli import app as cli_app
from durasumi.cli import main as cli_main
from durasumi.cli.follow import Follower, progress_of
from durasumi.cli.jobs import jobs_table
from durasumi.client import job_reads
from durasumi.client.job_reads import JobRow, newest_first
from durasumi.client.temporal_http import HttpApi, TemporalHttp, http_api_for, parse_payload
from durasumi.workers.codec import KeyringCodec
from durasumi.workers.keyring import Keyring
from durasumi.workers.settings import Settings
from durasumi.workflows import search, status
from durasumi.workflows.job import JobWorkflow
from durasumi.workflows.models import EventKind, JobEvent, JobStatus
from tests.conftest import ROOT

PYTHON_TYPES = ("<str>", "<bool>", "<int", "<float", "<path>", "<list[", "<dict")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durasumi.cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "100", "NO_COLOR": "1", "PATH": "/usr/bin:/bin", **(env or {})},
    )


# What a command imports: the help and the quick reads must not load the SDK.
IMPORTS = """
import os, sys

real_exit = os._exit

def leave(code):
    heavy = ["typer", "temporalio", "durasumi.workflows.models", "durasumi.cli.jobs",
             "pydantic_settings", "sqlalchemy", "fastapi"]
    sys.stderr.write("\\nLOADED " + " ".join(m for m in heavy if m in sys.modules))
    sys.stderr.flush()
    real_exit(code)

os._exit = leave  # main() ends with os._exit
from durasumi.cli.main import main
sys.argv[0] = "durasumi"
main()
"""


def loaded(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, *args], cwd=ROOT, capture_output=True, text=True
    )
    return set(done.stderr.rsplit("LOADED", 1)[1].split())


def test_help_lists_every_command_without_importing_one() -> None:
    assert loaded("--help") == set()
    done = cli("--help")
    assert done.returncode == 0
    for name, entry in cli_main.COMMANDS.items():
        assert f"{name} " in done.stdout and entry.help[:40] in done.stdout
    assert "--address" in done.stdout and "--namespace" in done.stdout


def test_a_command_s_help_loads_its_module_and_not_the_sdk() -> None:
    assert loaded("status", "--help") == {"typer", "durasumi.cli.jobs"}


@pytest.mark.parametrize("name", sorted(cli_main.COMMANDS))
def test_help_lines_match_the_commands_and_show_no_python_types(name: str) -> None:
    command = cli_app.load_command(name)
    assert (command.help or "").splitlines()[0].strip() == cli_main.COMMANDS[name].help
    for sub in [[], *([[s] for s in getattr(command, "commands", {})])]:
        done = cli(name, *sub, "--help")
        assert done.returncode == 0, done.stderr
        assert not [t for t in PYTHON_TYPES if t in done.stdout], done.stdout


ROOT_HELP = """
import sys
from typer import rich_utils
from typer.core import TyperCommand
from durasumi.cli.app import command_group
from durasumi.cli.help import print_root_help
from durasumi.cli.main import COMMANDS

print_root_help()
group = command_group()
ctx = group.make_context("durasumi", [], resilient_parsing=True)
print("=====")
stubs = {n: TyperCommand(n, help=e.help, rich_help_panel=e.panel) for n, e in COMMANDS.items()}
group.get_command = lambda ctx, name: stubs.get(name)
rich_utils.rich_format_help(obj=group, ctx=ctx, markup_mode="rich")
"""


@pytest.mark.parametrize("colour", [{}, {"FORCE_COLOR": "1"}], ids=["plain", "colour"])
def test_the_root_help_is_drawn_exactly_as_typer_draws_it(colour: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", ROOT_HELP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"COLUMNS": "90", "PATH": "/usr/bin:/bin", **colour},
    )
    ours, typers = done.stdout.split("=====\n")
    assert ours == typers, done.stdout
    assert "Agents and payments" in ours and ("\x1b[" in ours) == bool(colour)


def test_root_help_has_no_python_types() -> None:
    out = cli("--help").stdout
    assert not [t for t in PYTHON_TYPES if t in out], out


def test_json_errors_are_json_with_the_same_exit_code() -> None:
    done = cli("list", "--status", "sleeping", "--json")
    assert done.returncode == 2
    error = json.loads(done.stderr)
    assert error["error"] == "usage" and "sleeping" in error["message"]
    plain = cli("list", "--status", "sleeping")
    assert plain.returncode == 2 and "sleeping" in plain.stderr and not plain.stderr.startswith("{")

    bad = cli("start", "trip-planner", "{not json", "--json", env={"DURASUMI_HOME": "/nonexistent"})
    assert bad.returncode == 2
    assert json.loads(bad.stderr)["error"] == "bad_input"


def test_the_names_the_quick_reads_use_are_the_workflow_s() -> None:
    assert job_reads.JOB_WORKFLOW == JobWorkflow.__name__
    query = JobWorkflow.view.__temporal_query_definition  # type: ignore[attr-defined]
    assert job_reads.VIEW_QUERY == query.name
    assert job_reads.AGENT_ATTR == search.AGENT.name
    assert job_reads.STATUS_ATTR == search.STATUS.name
    assert job_reads.BUYER_ATTR == search.BUYER.name
    assert job_reads.VENDOR_ATTR == search.VENDOR.name
    assert (
        JobStatus is status.JobStatus
    )  # one enum (workflows/status.py), re-exported by the models
    from durasumi.client import jobs
    from durasumi.workflows import errors

    assert (job_reads.JOB_FAILED, job_reads.JOB_CANCELLED) == (
        errors.JOB_FAILED,
        errors.JOB_CANCELLED,
    )
    for filters in (
        {},
        {"agent": "a"},
        {"agent": "a", "status": "running", "buyer": "x' OR 'a'='a"},
    ):
        assert job_reads.jobs_query(**filters) == jobs.jobs_query(**filters)
    with pytest.raises(ValueError):
        job_reads.jobs_query(buyer="'alice")


def test_payloads_parse_like_the_sdk_s() -> None:
    payload = Payload(
        metadata={"encoding": b"json/plain", "x": b"\x00\xff" * 200}, data=b'{"a": [1, 2]}' * 50
    )
    assert parse_payload(payload.SerializeToString()) == (dict(payload.metadata), payload.data)
    assert parse_payload(b"") == ({}, b"")


def test_encrypted_payloads_decode_without_the_sdk_s_codec() -> None:
    ring = Keyring({"k1": bytes(32), "k2": bytes(range(32))}, active="k2")
    sealed = KeyringCodec(ring).encrypt(
        Payload(metadata={"encoding": b"json/plain"}, data=b'{"status": "running"}')
    )
    as_json = {
        "metadata": {k: _b64(v) for k, v in sealed.metadata.items()},
        "data": _b64(sealed.data),
    }
    api = TemporalHttp(HttpApi("http://127.0.0.1:1", "default"), ring)
    assert api.decode(as_json) == {"status": "running"}
    with pytest.raises(ValueError, match="no codec keys"):
        TemporalHttp(HttpApi("http://127.0.0.1:1", "default"), None).decode(as_json)


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def test_the_http_api_is_used_only_where_its_address_is_known(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("TEMPORAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    dev = http_api_for(Settings())
    assert dev == HttpApi("http://127.0.0.1:7243", "default")
    assert http_api_for(Settings(temporal_address="127.0.0.1:7233")) == dev
    assert http_api_for(Settings(temporal_address="temporal:7233")) is None
    assert http_api_for(Settings(temporal_profile="compose")) is None
    explicit = Settings(temporal_http_url="http://t:7243/", temporal_namespace="ns")
    assert http_api_for(explicit) == HttpApi("http://t:7243", "ns")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "elsewhere:7233")
    assert http_api_for(Settings()) is None  # the envconfig profile may point elsewhere


def row(job_id: str, started: int, closed: int | None = None) -> JobRow:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    close = None if closed is None else t0 + timedelta(minutes=closed)
    return JobRow(job_id, "agent", "running", "buyer", t0 + timedelta(minutes=started), close)


def test_newest_first_reads_no_more_than_it_needs() -> None:
    # Server order: running first, then closed by close time (newest first).
    rows = [row("r1", 5), row("r2", 1), row("c1", 9, 10), row("c2", 3, 8), row("c3", 7, 7)]
    rows += [row("c4", 2, 4), row("c5", 0, 3)]
    seen: list[str] = []

    def served() -> object:
        for r in rows:
            seen.append(r.job_id)
            yield r

    newest = newest_first(served(), 3)  # type: ignore[arg-type]
    assert [r.job_id for r in newest] == ["c1", "c3", "r1"]
    assert seen == ["r1", "r2", "c1", "c2", "c3", "c4"]  # c4 closed before the 3rd newest start
    assert [r.job_id for r in newest_first(rows, 100)][:2] == ["c1", "c3"]


def test_the_job_list_keeps_whole_ids_at_80_columns() -> None:
    ids = [f"job-a-very-long-agent-name-{n:x}" + "0" * 24 for n in range(3)]
    rows = [
        JobRow(i, "a-very-long-agent-name", "awaiting_payment", "someone", datetime.now(UTC))
        for i in ids
    ]
    for width in (80, 60, 200):
        out = io.StringIO()
        Console(file=out, width=width, color_system=None).print(jobs_table(rows, width))
        text = out.getvalue()
        assert all(i in text for i in ids), text
        assert "…" not in text
        assert max(map(len, text.splitlines())) <= max(width, len(ids[0])), text
    wide = io.StringIO()
    Console(file=wide, width=200).print(jobs_table(rows, 200))
    assert "someone" in wide.getvalue() and "a-very-long-agent-name " in wide.getvalue()


def test_progress_counters() -> None:
    assert progress_of({"percent": 150}) == (100.0, "")
    assert progress_of({"done": 1, "total": 4, "percent": 30}) == (30.0, "1/4")
    assert progress_of({"done": 1, "total": 0}) is None
    assert progress_of({"done": True, "total": 2}) is None


def event(seq: int, kind: EventKind, message: str, **data: object) -> JobEvent:
    return JobEvent(seq=seq, at=datetime.now(UTC), kind=kind, message=message, data=data)  # type: ignore[arg-type]


def test_watch_draws_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    events = [
        event(1, EventKind.STATUS, "running"),
        event(2, EventKind.PROGRESS, "chunk 1/4 done", done=1, total=4, percent=25),
        event(3, EventKind.PROGRESS, "chunk 4/4 done", done=4, total=4, percent=100),
    ]
    for terminal in (True, False):
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=100)
        with Follower(console, "job-x") as follower:
            for e in events:
                follower.event(e)
            follower.done("completed")
        text = out.getvalue()
        assert "chunk 4/4 done" in text and "job-x: " in text
        assert ("━" in text and "4/4" in text) if terminal else ("chunk 1/4 done" in text)


def test_cli_modules_import_heavy_packages_inside_commands() -> None:
    for module in ("jobs", "agents", "escrow", "deploy", "keys", "db", "serve", "dev"):
        source = inspect.getsource(__import__(f"durasumi.cli.{module}", fromlist=["_"]))
        head = source.split("\ndef ", 1)[0]
        # (durasumi.workflows.status is dependency-free: the status values only)
        top = head.split("if TYPE_CHECKING:")[0].replace("\nfrom durasumi.workflows.status ", "")
        for heavy in ("temporalio", "durasumi.client.jobs", "durasumi.workflows", "sqlalchemy"):
            assert f"\nfrom {heavy}" not in top, (module, heavy)
