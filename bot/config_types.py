"""The building blocks of kefu's config schema: strict models, durations, service windows, and
problems named by their key path (what `kefu check-config` prints)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

__all__ = ["Strict", "Problems", "problems_of", "Duration", "parse_duration", "Windows", "WEEKDAYS", "CONFIG_DIR"]

CONFIG_DIR = "config_dir"  # the validation context's key: the folder of the YAML file, for relative paths
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class Strict(BaseModel):
    """A part of the config: unknown keys are mistakes, and nothing changes it once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Problems(ValueError):
    """Raised inside a validator: (key path in full, problem) pairs the loader passes on as they are."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {p}" for k, p in problems))


def problems_of(e: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """pydantic's errors as (key path, problem): accounts[0].token, not ('accounts', 0, 'token')."""
    out: list[tuple[str, str]] = []
    for err in e.errors():
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, Problems):
            out.extend(inner.problems)
        else:
            out.append((_path(prefix, err["loc"]), _message(err)))
    return out


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: Any) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown key (check its spelling against config/kefu.example.yaml)"
    if err.get("type") == "missing":
        return "is required"
    return str(err.get("msg", "")).removeprefix("Value error, ")


def parse_duration(v: Any) -> float:
    """'60s', '5m', '2h', '1d', '1h30m', '50ms' or a number of seconds -> seconds."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if not isinstance(v, str) or not re.fullmatch(r"(\d+(\.\d+)?(ms|[smhd]))+", v.strip()):
        raise ValueError(f"must be a duration like 60s, 5m, 2h, 1h30m or 50ms (got {v!r})")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * unit[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ms|[smhd])", v))


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _windows(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise ValueError('must be a list of "HH:MM-HH:MM" windows')
    for w in v:
        m = _WINDOW.match(str(w))
        if not m:
            raise ValueError(f'{w!r} is not a window like "08:30-12:00"')
        if m.group(1, 2) == m.group(3, 4):
            raise ValueError(f"{w!r} is empty (start equals end)")
    return [str(w) for w in v]


Windows = Annotated[list[str], BeforeValidator(_windows)]
