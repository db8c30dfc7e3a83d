"""Every pinned dependency is one kefu uses: an unused pin only costs installs and audits."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent

# used without an import statement of ours
USED_WITHOUT_IMPORT = {
    "hiredis": "redis-py parses replies with it when it is installed",
    "tzdata": "zoneinfo reads its time zones where the system has none (Windows, slim images)",
}


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported() -> set[str]:
    """Top-level modules imported anywhere in kefu's code, tests and benchmark."""
    found: set[str] = set()
    for folder in ("bot", "adapters", "handlers", "console", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found


def test_every_pinned_dependency_is_imported_somewhere():
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    dists = importlib.metadata.packages_distributions()
    used = {_name(d) for module in _imported() for d in dists.get(module, [])}
    unused = [r for r in pinned if _name(r) not in used and _name(r) not in USED_WITHOUT_IMPORT]
    assert unused == []
