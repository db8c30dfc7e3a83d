"""Values still as the example file has them (`your_app_secret`, the example's AES key, ...).

The example runs as it is, so a placeholder is not an error; but an admin who copied it should hear,
key by key, which values still need their real ones. Found by how the value looks, not by key, so a
new account type's placeholders are found too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.loader import VARIABLE  # the loader's ${VAR} and ${VAR:-default}

__all__ = ["Placeholder", "find_placeholders", "is_placeholder"]

# your_app_secret, wx_your_app_id, ww_your_corp_id, your-robot-key, ...?access_token=your_token
_YOUR = re.compile(r"(?<![A-Za-z0-9])your[_-]", re.IGNORECASE)
# a DingTalk robot's signing secret written as in the docs: SEC..., SECxxxx
_SEC = re.compile(r"SEC(\.+|…+|x+)", re.IGNORECASE)
# valid on purpose (it must pass the 43-character check), so only its exact value gives it away
_EXAMPLE_VALUES = {"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


@dataclass(frozen=True)
class Placeholder:
    key: str  # the key path, as configuration errors name it: accounts[1].secret
    value: str
    variables: list[str]  # the ${VAR}s the value came through, which the admin can set instead

    @property
    def warning(self) -> str:
        fix = " or ".join([*self.variables, "your real value"])
        return f"{self.key} still holds the placeholder '{self.value}' from the example; set {fix}"


def is_placeholder(value: str) -> bool:
    return bool(_YOUR.search(value)) or bool(_SEC.fullmatch(value)) or value in _EXAMPLE_VALUES


def find_placeholders(raw: Any, env: Mapping[str, str]) -> list[Placeholder]:
    """Every string in the loaded YAML tree that, with ${VAR}s filled in from `env`, is a placeholder."""
    found: list[Placeholder] = []
    _walk(raw, "", env, found)
    return found


def _walk(node: Any, path: str, env: Mapping[str, str], found: list[Placeholder]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _walk(v, f"{path}.{k}" if path else str(k), env, found)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, f"{path}[{i}]", env, found)
    elif isinstance(node, str):
        value = VARIABLE.sub(lambda m: env.get(m.group(1), m.group(2) or ""), node)
        if is_placeholder(value):
            found.append(Placeholder(path, value, [m.group(1) for m in VARIABLE.finditer(node)]))
