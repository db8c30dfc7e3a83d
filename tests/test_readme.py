"""The README is the admin's: it starts with the two commands, stays under 12 KB, names only
`kefu` commands, options and config keys that exist, links only to files that exist, and CI runs
its test command."""

from __future__ import annotations

import re
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from bot.cli import main
from bot.config import Config

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LIMIT = 12 * 1024  # bytes: the README is what an admin reads, background goes to docs/


def text() -> str:
    return README.read_text(encoding="utf-8")


def commands() -> list[str]:
    return re.findall(r"^    (python3 -m venv .*)$", text(), re.M)


def split(md: str) -> tuple[list[str], str]:
    """The fenced and indented code blocks, in order (an indented one starts after a blank line),
    and the text outside them."""
    blocks: list[str] = []
    outside: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append("\n".join(lines[i + 1 : end]))
            i = end + 1
        elif line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            end = i
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            blocks.append("\n".join(x[4:] for x in lines[i:end]).strip("\n"))
            i = end
        else:
            outside.append(line)
            i += 1
    return blocks, "\n".join(outside)


def code_blocks(md: str) -> list[str]:
    return split(md)[0]


def prose(md: str) -> str:
    return split(md)[1]


def inline_code(md: str) -> list[str]:
    return re.findall(r"`([^`]+)`", prose(md))


def kefu_invocations(md: str) -> list[tuple[str, list[str]]]:
    """(command, --options) of every `kefu <command>` in code blocks and inline code."""
    found = []
    snippets = [line for block in code_blocks(md) for line in block.splitlines()] + inline_code(md)
    for snippet in snippets:
        for part in re.split(r"&&|\|\||;", snippet):
            m = re.match(r"\s*(?:\S*/)?kefu\s+([a-z][\w-]*)(.*)", part, re.S)
            if m:
                found.append((m.group(1), re.findall(r"(?<!\S)(--[a-z][\w-]*)", m.group(2))))
    return found


def test_readme_starts_with_the_run_and_test_commands():
    run, test = commands()[:2]
    assert run.endswith("kefu demo") and "pip install -e ." in run
    assert test.endswith("pytest") and "'.[test]'" in test
    # the first two code blocks, before any section: nothing to read before them
    first, second = code_blocks(text())[:2]
    assert (first, second) == (run, test)
    assert "\n## " not in text().split(test)[0]


def test_readme_is_under_12_kb():
    size = len(README.read_bytes())
    assert size < LIMIT, f"README.md is {size} bytes; move background to docs/ (limit {LIMIT})"


def test_every_kefu_command_the_readme_names_exists(capsys: pytest.CaptureFixture[str]):
    named: dict[str, set[str]] = {}
    for command, options in kefu_invocations(text()):
        named.setdefault(command, set()).update(options)
    assert {"run", "demo", "check-config", "health", "deadletters", "report"} <= set(named), named
    for command, options in sorted(named.items()):
        with pytest.raises(SystemExit) as stop:
            main([command, "--help"])
        usage = capsys.readouterr()
        assert stop.value.code == 0, f"`kefu {command}` is not a command of bot/cli.py: {usage.err}"
        for option in sorted(options):
            assert re.search(rf"{re.escape(option)}\b", usage.out), f"`kefu {command}` has no {option}"


def _links(path: Path) -> list[str]:
    md = prose(path.read_text(encoding="utf-8"))
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", md) if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


@pytest.mark.parametrize("page", [README, ROOT / "bench" / "README.md", *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_that_exists(page: Path):
    for target in _links(page):
        assert (page.parent / target.split("#")[0]).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_readme_links_to_every_page_of_docs_and_to_the_benchmark():
    links = {str((ROOT / t.split("#")[0]).resolve().relative_to(ROOT)) for t in _links(README)}
    assert "bench/README.md" in links
    assert DOCS and {f"docs/{p.name}" for p in DOCS} <= links


def _resolves(model: type[BaseModel], path: list[str]) -> bool:
    head, *rest = path
    if head == "*" or head not in model.model_fields:
        return head == "*"
    annotation: Any = model.model_fields[head].annotation
    if get_origin(annotation) in (Union, UnionType):  # an optional section (console: ... | None)
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if not rest:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _resolves(annotation, rest)
    return get_origin(annotation) in (dict, list)  # groups.<name>: the rest is the admin's


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_dotted_config_key_named_exists(page: Path):
    for span in inline_code(page.read_text(encoding="utf-8")):
        path = span.split(".")
        if re.fullmatch(r"[a-z_]+(\.([a-z_]+|\*))+", span) and path[0] in Config.model_fields:
            assert _resolves(Config, path), f"{page.name} names `{span}`, which bot/config.py does not have"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pattern = re.search(r"sed -n 's/\^    (.*)\$/\\1/p' README.md", ci).group(1)
    regex = pattern.replace("\\(", "(").replace("\\)", ")").replace("\\/", "/")
    found = [c for c in commands() if re.fullmatch(regex, c)]
    assert found and found[0] == commands()[1]
