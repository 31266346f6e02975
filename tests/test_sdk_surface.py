"""The vendor's SDK face: a short list of names, each documented with an example that runs."""

from __future__ import annotations

import doctest
import re

import pytest

import durasumi
from tests.conftest import ROOT

SDK = {
    "AgentRunInput", "AgentWorkflow", "DurasumiPlugin", "Field", "Form", "FormExpired",
    "Group", "RayJob", "RayTask", "ShowWhen", "StepOptions",
}  # fmt: skip


def test_the_sdk_exports_a_short_list_of_names() -> None:
    assert set(durasumi.__all__) == SDK
    assert all(hasattr(durasumi, name) for name in SDK)


def run_doctests(obj: object, name: str) -> doctest.TestResults:
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = {n: getattr(durasumi, n) for n in durasumi.__all__}
    for test in finder.find(obj, name, globs=globs):
        runner.run(test)
    return runner.summarize(verbose=False)


@pytest.mark.parametrize("name", sorted(SDK))
def test_every_name_has_a_docstring_with_an_example_that_runs(name: str) -> None:
    obj = getattr(durasumi, name)
    assert "Example:" in (obj.__doc__ or ""), f"{name} has no Example"
    results = run_doctests(obj, name)
    assert results.attempted > 0, f"{name}'s example runs nothing"
    assert results.failed == 0


def test_the_package_docstring_example_runs() -> None:
    results = run_doctests(durasumi, "durasumi")
    assert results.attempted > 0 and results.failed == 0


def test_readmes_agent_uses_only_the_sdk_and_is_a_valid_agent() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Writing an agent", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    imports = re.findall(r"^from (\S+) import", code, re.M)
    assert {m for m in imports if m.startswith("durasumi")} == {"durasumi"}
    namespace: dict[str, object] = {"__name__": "readme_agent"}
    exec(compile(code, "README.md", "exec"), namespace)
    import sys
    import types

    from durasumi.workers.agents import load_agent

    module = types.ModuleType("readme_agent")
    module.__dict__.update(namespace)
    sys.modules["readme_agent"] = module
    try:
        writer = load_agent("readme_agent:Writer")
    finally:
        del sys.modules["readme_agent"]
    assert writer.name == "writer"
    assert writer.input_form is not None and writer.activities
