"""Ray is imported only by the Ray activity, and only when it runs; openai only on a call.

Checked in a fresh interpreter: import every module of the packages a worker, the CLI and
the workflow sandbox load, then look at sys.modules.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import importlib, pkgutil, sys
names = ["activities.gpu", "activities.llm", "examples"]
for package in ("workflows", "workers", "cli", "examples"):
    module = importlib.import_module(package)
    names += [m.name for m in pkgutil.walk_packages(module.__path__, package + ".")]
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
