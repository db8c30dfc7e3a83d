"""The knowledge file the admin keeps: YAML (q / similar / a / tags) or an XLSX with the columns
标准问 / 相似问 / 答案 / 标签, as desks keep them in Excel. Entries are numbered from 1 in file order
(the number agents send as `/faq 12`), unless an entry gives its own `id` (the XLSX column 编号)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Entry", "KnowledgeError", "read_knowledge", "COLUMNS"]

COLUMNS = {"编号": "id", "标准问": "q", "相似问": "similar", "答案": "a", "标签": "tags"}
_SPLIT = re.compile(r"[\n|｜;；]+")  # several similar questions or tags in one cell
_KEYS = {"id", "q", "similar", "a", "tags"}


class KnowledgeError(ValueError):
    """The knowledge file cannot be used; the message names the file, the entry or row, the problem."""


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    q: str
    a: str
    similar: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def questions(self) -> list[str]:
        return [self.q, *self.similar]


def _texts(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(s.strip() for s in _SPLIT.split(value) if s.strip())
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v).strip() for v in value if str(v).strip())
    raise KnowledgeError(f"{where}: {key} must be a list of texts")


def _entry(raw: Any, where: str, position: int) -> Entry:
    if not isinstance(raw, dict):
        raise KnowledgeError(f"{where}: must be a mapping with q: and a:")
    unknown = set(raw) - _KEYS
    if unknown:
        raise KnowledgeError(f"{where}: unknown key {sorted(unknown)[0]!r} (an entry has q, similar, a, tags, id)")
    q, a = str(raw.get("q") or "").strip(), str(raw.get("a") or "").strip()
    if not q:
        raise KnowledgeError(f"{where}: q (the question) is missing")
    if not a:
        raise KnowledgeError(f"{where}: a (the answer) is missing")
    number = raw.get("id", position)
    if isinstance(number, float) and number.is_integer():  # a number cell of a spreadsheet
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise KnowledgeError(f"{where}: id must be a whole number from 1")
    return Entry(number, q, a, _texts(raw.get("similar"), where, "similar"), _texts(raw.get("tags"), where, "tags"))


def _from_yaml(path: Path) -> list[tuple[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise KnowledgeError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, list):
        raise KnowledgeError(f"{path}: must be a list of entries (- q: ... a: ...)")
    return [(f"{path} entry {i + 1}", raw) for i, raw in enumerate(data)]


def _from_xlsx(path: Path) -> list[tuple[str, Any]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
    except Exception as e:  # openpyxl raises what zipfile and its parsers raise
        raise KnowledgeError(f"{path}: not a readable XLSX file ({e})") from None
    rows = sheet.iter_rows(values_only=True)
    header = [str(c or "").strip() for c in next(rows, ())]
    if "标准问" not in header or "答案" not in header:
        raise KnowledgeError(f"{path} row 1: needs the columns 标准问 and 答案 (and may have 相似问, 标签)")
    keys = [COLUMNS.get(h) for h in header]
    out = []
    for n, row in enumerate(rows, start=2):
        if all(c is None or str(c).strip() == "" for c in row):
            continue
        out.append((f"{path} row {n}", {k: c for k, c in zip(keys, row, strict=False) if k and c is not None}))
    return out


def read_knowledge(path: str | Path) -> list[Entry]:
    """The entries of the file, or KnowledgeError naming where it is wrong."""
    p = Path(path)
    if not p.is_file():
        raise KnowledgeError(f"{p}: no such file")
    raws = _from_xlsx(p) if p.suffix.lower() in (".xlsx", ".xlsm") else _from_yaml(p)
    entries: list[Entry] = []
    seen: dict[int, str] = {}
    for position, (where, raw) in enumerate(raws, start=1):
        entry = _entry(raw, where, position)
        if entry.id in seen:
            raise KnowledgeError(f"{where}: number {entry.id} is already used by {seen[entry.id]}")
        seen[entry.id] = where
        entries.append(entry)
    return entries
