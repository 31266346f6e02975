"""The production stack (docker-compose.yml, Dockerfile, temporal-config/) checked without Docker.

There is no Docker engine here, so these tests check what can go wrong before `docker compose
up`: the file against the Compose Specification's schema, every durasumi command against the
real CLI, every DURASUMI_* variable against the settings, ports, names and databases that must
agree across files, health checks, restart policies, secrets. The one-shot that creates the
namespace and search attributes runs for real against the session's Temporal dev server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import typer
import typer.main
import yaml
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from durasumi.cli.app import app
from durasumi.cli.dev import EXAMPLE_AGENTS
from durasumi.workers.agents import load_agent
from durasumi.workers.devserver import DevServer, free_port, temporal_binary
from durasumi.workers.run import GRACEFUL_SHUTDOWN
from durasumi.workers.settings import Settings
from durasumi.workflows import search
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PROFILES = ROOT / "temporal-config" / "profiles.toml"
SCRIPTS = ROOT / "temporal-config" / "scripts"
SCHEMA = Path(__file__).resolve().parent / "data" / "compose-spec.json"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, $VAR; $$ is a "$".
VARIABLE = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^{}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|(^|_)KEYS?$|API_KEY")
ONE_SHOT_CONDITION = "service_completed_successfully"


def raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation, applied to every string in ``node``."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        missing = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-") and missing:
            return arg
        if op in (":?", "?") and missing:
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return VARIABLE.sub(one, node)


def references(node: Any) -> Iterator[tuple[str, str | None, str]]:
    """Every ${...} in ``node``: (name, operator, argument)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)
    elif isinstance(node, str):
        for m in VARIABLE.finditer(node):
            if m.group(0) != "$$":
                yield m.group("braced") or m.group("bare"), m.group("op"), m.group("arg") or ""


def env_example() -> dict[str, tuple[str, bool]]:
    """.env.example's variables: name -> (example value, set (True) or commented out)."""
    found: dict[str, tuple[str, bool]] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if m:
            found[m.group(2)] = (m.group(3), m.group(1) is None)
    return found


def sample_env() -> dict[str, str]:
    """.env as a user would fill it: every required secret set, the commented ones too."""
    env = {name: value for name, (value, _) in env_example().items()}
    for name, value in env.items():
        if not value:
            env[name] = hashlib.sha256(name.encode()).hexdigest()  # distinct, 32 bytes as hex
    env["DURASUMI_CODEC_KEYS"] = "k1:" + "A" * 43 + "="  # 32 zero bytes, base64
    env["DURASUMI_CODEC_ACTIVE_KEY"] = "k1"
    env.pop("TEMPORAL_API_KEY")  # the compose profile has no API key
    return env


def stack() -> dict[str, Any]:
    return interpolate(raw(), sample_env())


def services() -> dict[str, dict[str, Any]]:
    return stack()["services"]


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def durasumi_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if str(s.get("image", "")).startswith("durasumi")}


def container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).rsplit(":", 1)[1]) for p in service.get("ports", [])}


def one_shots(svcs: dict[str, dict[str, Any]]) -> set[str]:
    return {
        dep
        for s in svcs.values()
        for dep, cond in (s.get("depends_on") or {}).items()
        if cond["condition"] == ONE_SHOT_CONDITION
    }


def url_port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def healthcheck_url(service: dict[str, Any]) -> str:
    test = " ".join(service["healthcheck"]["test"])
    m = re.search(r"https?://[^'\" ]+", test)
    assert m, test
    return m.group(0)


# -- the file itself ------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    for label, doc in (("as written", raw()), ("interpolated", stack())):
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert not problems, f"{label}: {problems}"
    # The schema is strict about unknown keys: a typo is a validation error.
    broken = raw()
    broken["services"]["api"]["helthcheck"] = broken["services"]["api"].pop("healthcheck")
    assert not validator.is_valid(broken)


def test_required_secrets_stop_compose_with_a_message() -> None:
    env = sample_env()
    for name in ("POSTGRES_PASSWORD", "TEMPORAL_DB_PASSWORD", "APP_DB_PASSWORD"):
        partial = {k: v for k, v in env.items() if k != name}
        with pytest.raises(KeyError, match=rf"{name}: set {name} in \.env"):
            interpolate(raw(), partial)
    with pytest.raises(KeyError, match="DURASUMI_SIGNING_SECRET"):
        interpolate(raw(), {**env, "DURASUMI_SIGNING_SECRET": ""})


def test_no_secret_is_written_in_the_file() -> None:
    for name, service in raw()["services"].items():
        for key, value in environment(service).items():
            if value is None:  # passed through from the environment or .env
                continue
            for m in re.finditer(r"://[^:/@]+:([^@]+)@", value):  # credentials in a URL
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", m.group(1)), f"{name}.{key}"
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{name}.{key} = {value!r}"
    for name, op, _ in references(raw()):
        if SECRET_NAME.search(name) and op is not None:
            assert op == ":?", f"{name} has a default or may be empty ({op})"


def test_env_example_lists_every_variable_the_file_uses() -> None:
    example = env_example()
    referenced = {name for name, _, _ in references(raw())}
    passed_through = {
        key
        for service in raw()["services"].values()
        for key, value in environment(service).items()
        if value is None
    }
    assert referenced | passed_through <= set(example), (referenced | passed_through) - set(example)
    assert set(example) <= referenced | passed_through, "stale: " + str(
        set(example) - referenced - passed_through
    )
    for name, op, _ in references(raw()):
        value, active = example[name]
        if op == ":?":  # required: present in a copied .env, to be filled in
            assert active and value == "", name
    for name in passed_through:  # an empty line would pass "" instead of leaving it unset
        assert not example[name][1], f"{name} must be commented out in .env.example"


def test_dynamic_config_parses_and_enables_updates() -> None:
    config = yaml.safe_load((ROOT / "temporal-config/dynamicconfig/production.yaml").read_text())
    assert isinstance(config, dict) and config
    for key, values in config.items():
        assert re.fullmatch(r"[a-zA-Z]+(\.[a-zA-Z]+)+", key), key
        assert isinstance(values, list) and values, key
        for entry in values:
            assert set(entry) <= {"value", "constraints"} and "value" in entry, key
            assert set(entry.get("constraints") or {}) <= {"namespace", "taskQueueName", "taskType"}
    assert config["frontend.enableUpdateWorkflowExecution"] == [{"value": True}]


# -- durasumi's services against durasumi's code ---------------------------------------------


def parse_cli(argv: list[str]) -> None:
    """Parse ``durasumi <command> ...`` with the real Typer app's Click command, not running it."""
    root = typer.main.get_command(app)
    assert argv[:1] == ["durasumi"]
    ctx = typer.Context(root, info_name="durasumi")
    sub = root.get_command(ctx, argv[1])  # type: ignore[attr-defined]
    assert sub is not None, f"no command {argv[1]!r}"
    sub.make_context(argv[1], argv[2:], parent=ctx)  # unknown options and bad values raise


def test_every_durasumi_command_parses_with_the_real_cli() -> None:
    commands = {n: command(s) for n, s in durasumi_services().items()}
    cli_commands = {n: c for n, c in commands.items() if c[:1] == ["durasumi"]}
    assert set(cli_commands) == {"app-db-migrate", "api", "platform-worker", "example-worker"}
    for argv in cli_commands.values():
        parse_cli(argv)
    # The same parse refuses what the CLI refuses.
    with pytest.raises(typer.BadParameter):
        parse_cli(["durasumi", "api", "--workers", "0"])
    with pytest.raises(Exception, match="No such option"):
        parse_cli(["durasumi", "worker", "--platfrom"])
    with pytest.raises(AssertionError, match="no command"):
        parse_cli(["durasumi", "serve"])


def test_the_example_worker_serves_the_dev_stacks_agents() -> None:
    argv = command(services()["example-worker"])
    specs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--agent"]
    assert specs == EXAMPLE_AGENTS
    for spec in specs:
        load_agent(spec)


def test_durasumi_variables_are_settings_and_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    known: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        known.add(f"DURASUMI_{field_name.upper()}")
        if field.validation_alias is not None:
            known |= {str(c).upper() for c in getattr(field.validation_alias, "choices", [])}
    dotenv = sample_env()
    runs_durasumi = {
        n: s for n, s in durasumi_services().items() if command(s)[0] in ("durasumi", "python")
    }
    assert set(runs_durasumi) == {"app-db-migrate", "api", "platform-worker", "example-worker"}
    for name, service in runs_durasumi.items():
        env = environment(service)
        unknown = {k for k in env if k.startswith("DURASUMI_") and k not in known}
        assert not unknown, f"{name}: not settings: {unknown}"
        for var in list(os.environ):
            if var.startswith(("DURASUMI_", "TEMPORAL_", "RAY_")):
                monkeypatch.delenv(var)
        for key, value in env.items():  # a key without a value comes from .env, if set there
            resolved = value if value is not None else dotenv.get(key)
            if resolved is not None:
                monkeypatch.setenv(key, resolved)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert settings.temporal_profile == "compose"
        if name == "example-worker":  # a vendor's worker: no app database, the API instead
            assert "DURASUMI_DATABASE_URL" not in env
            assert settings.api_base_url == "http://api:8000" and "DURASUMI_API_KEY" in env
        else:
            assert settings.db_url.startswith("postgresql+psycopg://durasumi:")
        if "DURASUMI_SIGNING_SECRET" in env:
            assert len(settings.signing_secret_bytes()) >= 32
        assert settings.codec_keyring() is not None  # .env's keys reach every process
        if "DURASUMI_METRICS_PORT" in env:
            assert (
                settings.metrics_host == "0.0.0.0"
            )  # reachable by the health check and Prometheus


def test_the_migration_one_shot_migrates(tmp_path: Path) -> None:
    service = services()["app-db-migrate"]
    db = tmp_path / "app.db"
    env = {**os.environ, "DURASUMI_DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(ROOT)}
    argv = command(service)
    assert argv[:3] == ["durasumi", "db", "upgrade"]
    argv = [sys.executable, "-m", "durasumi.cli.main", *argv[1:]]
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "app database at revision" in done.stdout
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master")}
    assert {"agents", "api_keys", "alembic_version"} <= tables


# -- names and ports that must agree ---------------------------------------------------------


def test_temporal_address_and_namespace_agree_with_the_compose_profile() -> None:
    profile = tomllib.loads(PROFILES.read_text())["profile"]["compose"]
    host, port = profile["address"].rsplit(":", 1)
    svcs = services()
    assert host in svcs and int(port) in container_ports(svcs[host])
    assert svcs[host]["healthcheck"]["test"][-1] == port  # nc -z 127.0.0.1 <port>
    assert environment(svcs["temporal-setup"])["TEMPORAL_ADDRESS"] == profile["address"]
    assert environment(svcs["temporal-ui"])["TEMPORAL_ADDRESS"] == profile["address"]
    assert environment(svcs["temporal-setup"])["NAMESPACE"] == profile["namespace"]
    assert environment(svcs["temporal-ui"])["TEMPORAL_DEFAULT_NAMESPACE"] == profile["namespace"]
    # The image carries the profiles file where the services look for it.
    dockerfile = (ROOT / "Dockerfile").read_text()
    config_file = environment(svcs["api"])["DURASUMI_TEMPORAL_CONFIG_FILE"]
    assert re.search(r"^WORKDIR /app$", dockerfile, re.M)
    assert f"COPY temporal-config/profiles.toml {config_file.removeprefix('/app/')}" in dockerfile


def test_ports_line_up() -> None:
    svcs = services()
    api = svcs["api"]
    api_port = int(environment(api)["DURASUMI_API_PORT"] or 0)
    assert container_ports(api) == {api_port} and url_port(healthcheck_url(api)) == api_port
    ui = svcs["temporal-ui"]
    ui_port = int(environment(ui)["TEMPORAL_UI_PORT"] or 0)
    assert ui_port == 8080 and container_ports(ui) == {8080}
    assert url_port(healthcheck_url(ui)) == ui_port
    origins = (environment(api)["DURASUMI_CODEC_UI_ORIGINS"] or "").split(",")
    assert origins and all(url_port(o) == ui_port for o in origins)
    codec = env_example()["TEMPORAL_CODEC_ENDPOINT"][0]
    assert url_port(codec) == api_port and urlsplit(codec).path == "/codec"
    for name in ("platform-worker", "example-worker"):
        metrics = int(environment(svcs[name])["DURASUMI_METRICS_PORT"] or 0)
        assert url_port(healthcheck_url(svcs[name])) == metrics, name
    ray = command(svcs["ray-head"])
    flag = {a.split("=")[0]: a.split("=")[1] for a in ray if "=" in a}
    worker = environment(svcs["example-worker"])
    assert url_port(worker["RAY_ADDRESS"] or "") == int(flag["--ray-client-server-port"])
    dashboard = url_port(worker["DURASUMI_RAY_DASHBOARD_URL"] or "")
    assert dashboard == int(flag["--dashboard-port"]) and container_ports(svcs["ray-head"]) == {
        dashboard
    }
    assert urlsplit(worker["RAY_ADDRESS"]).hostname == "ray-head"


def test_databases_and_roles_agree() -> None:
    svcs = services()
    init = (SCRIPTS / "init-databases.sh").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", init))
    roles = set(re.findall(r"CREATE ROLE (\w+) LOGIN", init))
    server, schema = environment(svcs["temporal"]), environment(svcs["temporal-schema"])
    assert server["POSTGRES_SEEDS"] == schema["DB_HOST"] == "postgresql"
    assert server["POSTGRES_USER"] == schema["DB_USER"] in roles
    assert server["POSTGRES_PWD"] == schema["SQL_PASSWORD"]
    assert (
        server["DBNAME"] == schema["DB_NAME"]
        and server["VISIBILITY_DBNAME"] == schema["VISIBILITY_DB_NAME"]
    )
    assert {(server["DBNAME"], server["POSTGRES_USER"])} <= created
    assert {(server["VISIBILITY_DBNAME"], server["POSTGRES_USER"])} <= created
    app_db = urlsplit(environment(svcs["api"])["DURASUMI_DATABASE_URL"] or "")
    assert (app_db.hostname, app_db.port) == ("postgresql", 5432)
    assert (app_db.path.lstrip("/"), app_db.username) in created
    postgres = environment(svcs["postgresql"])  # the passwords init-databases.sh sets
    assert app_db.password == postgres["APP_DB_PASSWORD"]
    assert server["POSTGRES_PWD"] == postgres["TEMPORAL_DB_PASSWORD"] != app_db.password
    mount = next(v for v in raw()["services"]["postgresql"]["volumes"] if "init-databases" in v)
    assert mount.split(":")[1].startswith("/docker-entrypoint-initdb.d/")
    dynamic = server["DYNAMIC_CONFIG_FILE_PATH"] or ""
    mounted = next(v for v in svcs["temporal"]["volumes"] if v.startswith("./temporal-config"))
    host_dir, container_dir = mounted.split(":")[:2]
    assert dynamic.startswith(container_dir + "/")
    assert (ROOT / host_dir / dynamic.removeprefix(container_dir + "/")).is_file()


def test_search_attributes_are_the_ones_durasumi_uses() -> None:
    pairs = environment(services()["temporal-setup"])["SEARCH_ATTRIBUTES"] or ""
    wanted = {(key.name, IndexedValueType.Name(key.indexed_value_type)) for key in search.ALL}
    declared = {
        (name, "INDEXED_VALUE_TYPE_" + kind.upper())
        for name, kind in (pair.split("=") for pair in pairs.split())
    }
    assert declared == wanted


# -- start order, health, restarts ------------------------------------------------------------


def test_start_order_health_checks_and_restart_policies() -> None:
    svcs = services()
    shots = one_shots(svcs)
    assert shots == {"temporal-schema", "temporal-setup", "app-db-migrate"}
    for name, service in svcs.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert dep in svcs, f"{name} depends on unknown {dep}"
            assert cond["condition"] in ("service_healthy", ONE_SHOT_CONDITION), (name, dep)
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in svcs[dep], f"{name} waits for {dep}'s missing health check"
        if name in shots:  # runs once per `up`; retried a few times if a dependency blips
            assert re.fullmatch(r"on-failure(:\d+)?", service["restart"]), name
            assert not service.get("ports"), name
        else:
            assert service["restart"] in ("unless-stopped", "always"), name
            assert "healthcheck" in service, name
    # Nothing durasumi runs before Temporal has its namespace and attributes, or before the
    # app database has its schema.
    for name in ("api", "platform-worker", "example-worker"):
        deps = svcs[name]["depends_on"]
        assert deps["temporal-setup"]["condition"] == ONE_SHOT_CONDITION, name
        assert deps["app-db-migrate"]["condition"] == ONE_SHOT_CONDITION, name
    drain = GRACEFUL_SHUTDOWN.total_seconds()
    for name in ("platform-worker", "example-worker"):
        grace = svcs[name]["stop_grace_period"]
        assert int(grace.removesuffix("s")) > drain, name


def test_image_build_covers_every_package_and_keeps_secrets_out() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["packages"]["find"]["include"] == [
        "durasumi",
        "durasumi.*",
    ]
    # durasumi/ links the top-level folders that install as durasumi.<folder>
    packages = [
        "durasumi",
        *sorted(p.name for p in (ROOT / "durasumi").iterdir() if p.is_symlink()),
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    for package in packages:
        assert f"COPY {package}/ {package}/" in dockerfile, package
        assert f"!{package}" in ignore, package
    assert "*" in ignore and not any(line.startswith("!.env") for line in ignore)
    assert re.search(r"^USER durasumi$", dockerfile, re.M)
    extras = {s["build"]["args"]["EXTRAS"] for s in durasumi_services().values()}
    assert extras == {"platform", "platform,ray"}
    assert {"platform", "ray"} <= set(pyproject["project"]["optional-dependencies"])


def test_ray_head_command_parses_with_rays_cli() -> None:
    scripts = pytest.importorskip("ray.scripts.scripts")
    argv = command(services()["ray-head"])
    assert argv[:2] == ["ray", "start"]
    scripts.start.make_context("start", argv[2:])  # unknown flags raise


def _compose_cli() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _compose_cli(), reason="no `docker compose` CLI on this machine")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in sample_env().items()))
    done = subprocess.run(
        ["docker", "compose", "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


# -- the namespace one-shot, for real ----------------------------------------------------------


def setup_namespace(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = SCRIPTS / "setup-namespace.sh"
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)


async def test_setup_namespace_script_creates_namespace_and_attributes_once(
    temporal: DevServer, client: Client
) -> None:
    setup = services()["temporal-setup"]
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **{k: v for k, v in environment(setup).items() if v is not None},
        "TEMPORAL_ADDRESS": temporal.address,
        "NAMESPACE": namespace,
        "PATH": f"{Path(temporal_binary()).parent}{os.pathsep}{os.environ['PATH']}",
    }
    first = await asyncio.to_thread(setup_namespace, env)
    assert first.returncode == 0, first.stdout + first.stderr
    again = await asyncio.to_thread(setup_namespace, env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"namespace {namespace} exists" in again.stdout
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    assert {(k.name, k.indexed_value_type) for k in search.ALL} <= set(
        listed.custom_attributes.items()
    )
    bad = await asyncio.to_thread(
        setup_namespace, {**env, "TEMPORAL_ADDRESS": "127.0.0.1:1", "ATTEMPTS": "2"}
    )
    assert bad.returncode != 0 and "gave up after 2 attempts" in bad.stderr


@pytest.mark.parametrize(
    ("name", "port_var"),
    [("platform-worker", "DURASUMI_METRICS_PORT"), ("api", "DURASUMI_API_PORT")],
)
def test_health_checks_pass_against_the_real_processes(
    temporal: DevServer, tmp_path: Path, name: str, port_var: str
) -> None:
    """The service's own command and environment, here instead of in a container."""
    service = services()[name]
    env = {k: v for k, v in environment(service).items() if v is not None}
    compose_port, port = env[port_var], free_port()
    env.update(
        {  # what differs outside the compose network
            port_var: str(port),
            "DURASUMI_API_HOST": "127.0.0.1",
            "DURASUMI_METRICS_HOST": "127.0.0.1",
            "DURASUMI_TEMPORAL_CONFIG_FILE": str(PROFILES),
            "DURASUMI_TEMPORAL_ADDRESS": temporal.address,
            "DURASUMI_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
            "DURASUMI_HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
        }
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DURASUMI_", "TEMPORAL_"))}
    argv = command(service)
    argv[0] = str(Path(sys.executable).parent / argv[0])
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD"
    probe = [arg.replace(f":{compose_port}/", f":{port}/") for arg in test[1:]]
    assert probe != test[1:]

    def healthy() -> bool:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0

    assert not healthy()
    proc = subprocess.Popen(
        argv, env={**base, **env}, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not healthy():
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, f"{name} never became healthy"
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)  # `docker compose stop`: then stop_grace_period
        code = proc.wait(timeout=60)
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once it has shut down


def test_scripts_are_posix_shell_or_bash_as_their_container_has() -> None:
    for script in SCRIPTS.glob("*.sh"):
        first = script.read_text().splitlines()[0]
        shell = "bash" if first == "#!/bin/bash" else "sh"
        assert first in ("#!/bin/sh", "#!/bin/bash"), script.name
        done = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    # admin-tools has no bash: the one-shots it runs must be plain sh.
    for name in ("temporal-schema", "temporal-setup"):
        assert raw()["services"][name]["entrypoint"][0] == "/bin/sh", name
