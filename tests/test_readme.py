"""The README starts with the two commands, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def commands() -> list[str]:
    return re.findall(r"^    (python3 -m venv .*)$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M)


def test_readme_starts_with_the_run_and_test_commands():
    run, test = commands()[:2]
    assert run.endswith("kefu demo") and "pip install -e ." in run
    assert test.endswith("pytest") and "'.[test]'" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pattern = re.search(r"sed -n 's/\^    (.*)\$/\\1/p' README.md", ci).group(1)
    regex = pattern.replace("\\(", "(").replace("\\)", ")").replace("\\/", "/")
    found = [c for c in commands() if re.fullmatch(regex, c)]
    assert found and found[0] == commands()[1]
