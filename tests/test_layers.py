"""The house's layers hold: the core speaks no platform and imports no adapter or handler, and no
module imports itself back through others (an import circle)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGES = ("bot", "handlers", "adapters", "console")

KNOWN_CIRCLES: list[set[str]] = []
PLATFORM_WORDS = re.compile(r"wechat|wecom|dingtalk|qq|weixin|公众号|钉钉", re.IGNORECASE)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _names(module: str, path: Path) -> set[str]:
    """Every module name `module` imports, anywhere in it (functions, TYPE_CHECKING blocks too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package upwards
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
    return out


def _edges(module: str) -> set[str]:
    """Our modules `module` makes Python execute: each one it imports, and that one's packages
    (their __init__ runs first) unless `module` sits inside them already."""
    own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    out: set[str] = set()
    for name in _names(module, MODULES[module]):
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        parts = name.split(".")
        out.update(p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if p and p not in own)
    out.discard(module)
    return out


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_back_through_others():
    graph = {m: _edges(m) & MODULES.keys() for m in MODULES}
    assert [c for c in _circles(graph) if c not in KNOWN_CIRCLES] == []


def test_a_circle_is_found_when_there_is_one():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_the_core_imports_no_adapter_and_no_handler_not_even_by_string():
    wrong = []
    for module, path in MODULES.items():
        if not module.startswith("bot"):
            continue
        wrong += [(module, n) for n in _names(module, path) if n.split(".")[0] in ("adapters", "handlers")]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module",
                "__import__",
            ):
                text = "".join(str(c.value) for a in node.args for c in ast.walk(a) if isinstance(c, ast.Constant))
                wrong.append((module, f"import_module({text!r}...)"))
    assert wrong == []


def test_the_console_reaches_no_rule_and_no_adapter_and_the_core_not_the_console():
    """The console reads storage and state and acts through the desk's commands, never by calling a rule."""
    wrong = []
    for module, path in MODULES.items():
        banned = ("adapters", "handlers") if module.startswith("console") else ("console",)
        if module.startswith(("console", "bot")):
            wrong += [(module, n) for n in _names(module, path) if n.split(".")[0] in banned]
    assert wrong == []


def test_the_core_speaks_no_platform_outside_comments():
    said = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if tok.type != tokenize.COMMENT and PLATFORM_WORDS.search(tok.string):
                said.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string[:60]}")
    assert said == []
