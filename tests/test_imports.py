"""The floor plan, enforced: one namespace, layers that import only downwards, lazy extras.

- Everything imports through ``durasumi.``: the repository's top-level folders are never
  imported by their bare names (they would be a second copy of each module, and a vendor
  project's own ``workflows`` or ``api`` package would shadow them).
- ``api/`` and ``cli/`` translate; they never import ``activities/`` (I/O is the workers').
- ``workflows/`` is deterministic code: nothing from ``api/``, ``cli/``, ``workers/``,
  ``client/`` or ``db/``.
- Ray is imported only by the Ray activity when it runs, openai only on an LLM call.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

FOLDERS = ["activities", "api", "cli", "client", "db", "examples", "workers", "workflows"]
SOURCE_TREES = [*FOLDERS, "durasumi", "tests", "bench"]


def python_files(*trees: str) -> list[Path]:
    # durasumi/ holds links to the folders: walk the real folders, once each.
    files = [p for t in trees if t != "durasumi" for p in (ROOT / t).rglob("*.py")]
    if "durasumi" in trees:
        files += [p for p in (ROOT / "durasumi").glob("*.py")]
    return [f for f in files if "contract" not in f.parts]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (top level, functions, TYPE_CHECKING blocks alike)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def offences(trees: list[str], forbidden: list[str]) -> list[str]:
    bad = []
    for path in python_files(*trees):
        for line, module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return sorted(set(bad))


def test_every_import_goes_through_the_namespace() -> None:
    assert offences(SOURCE_TREES, FOLDERS) == []


def test_api_and_cli_never_import_activities() -> None:
    assert offences(["api", "cli"], ["durasumi.activities"]) == []


def test_workflows_import_nothing_from_the_layers_above() -> None:
    above = [f"durasumi.{f}" for f in ("api", "cli", "workers", "client", "db")]
    assert offences(["workflows"], above) == []


def test_the_layering_check_finds_an_offence(tmp_path: Path) -> None:
    # The checker itself, on a file that breaks both rules (a test that cannot fail is none).
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    from durasumi.activities.llm import LlmActivities\nimport api.app\n"
    )
    modules = [m for _, m in imported_modules(sample)]
    assert "durasumi.activities.llm" in modules and "api.app" in modules


def test_every_package_folder_installs_under_the_namespace() -> None:
    links = {p.name: p.resolve() for p in (ROOT / "durasumi").iterdir() if p.is_symlink()}
    assert links == {f: (ROOT / f).resolve() for f in FOLDERS}
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["packages"]["find"]["include"] == ["durasumi", "durasumi.*"]
    for folder in FOLDERS:
        assert (ROOT / folder / "__init__.py").exists(), folder


PROBE = """
import importlib, pkgutil, sys
import durasumi
names = ["durasumi.activities.gpu", "durasumi.activities.llm"]
for package in ("workflows", "workers", "cli", "client", "examples"):
    module = importlib.import_module("durasumi." + package)
    names += [m.name for m in pkgutil.walk_packages(module.__path__, module.__name__ + ".")]
# The agent-framework examples import their frameworks, and so openai, by design.
names = [n for n in names if not n.startswith("durasumi.examples.frameworks")]
for name in names:
    importlib.import_module(name)
print(len(names), sorted(m for m in ("ray", "openai") if m in sys.modules))
"""


def test_workers_cli_and_workflows_do_not_import_ray_or_openai() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    count, loaded = done.stdout.split(" ", 1)
    assert int(count) > 20
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("module", ["durasumi.api", "durasumi.db"])
def test_platform_parts_name_the_extra_when_it_is_missing(module: str) -> None:
    # A vendor-only install: the platform's packages cannot be imported.
    probe = (
        "import sys\n"
        "for name in ('fastapi', 'sqlmodel'):\n"
        "    sys.modules[name] = None\n"
        f"import {module}\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert "pip install 'durasumi[platform]'" in done.stderr.splitlines()[-1]
