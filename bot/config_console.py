"""The `console:` section: who may log in to the supervisor's web console (the console package)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from bot.config_types import Duration, Strict

__all__ = ["ConsoleConfig", "ConsoleUser", "HASH_FORMAT"]

# what `kefu hash-password` prints: scrypt$N$r$p$salt$hash (salt and hash in base64)
HASH_FORMAT = re.compile(r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")


class ConsoleUser(Strict):
    name: str = Field(min_length=1, max_length=64)
    password: str = ""  # as given (write ${KEFU_CONSOLE_PASSWORD}), or:
    password_hash: str = ""  # from `kefu hash-password`

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, v: str) -> str:
        if v and not HASH_FORMAT.match(v):
            raise ValueError("is not what `kefu hash-password` prints (scrypt$16384$8$1$...)")
        return v

    @model_validator(mode="after")
    def _one(self) -> ConsoleUser:
        if bool(self.password) == bool(self.password_hash):
            raise ValueError("give exactly one of password or password_hash")
        if self.password and len(self.password) < 8:
            raise ValueError("password: at least 8 characters")
        return self


class ConsoleConfig(Strict):
    users: list[ConsoleUser] = Field(min_length=1)
    session_ttl: Duration = 8 * 3600.0  # a session unused this long ends
    login_attempts: int = Field(default=5, ge=1)  # wrong passwords per user and address ...
    login_window: Duration = 60.0  # ... within this long; more are refused (429) until it passes

    @field_validator("users")
    @classmethod
    def _unique(cls, v: list[ConsoleUser]) -> list[ConsoleUser]:
        names = [u.name for u in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"listed twice: {', '.join(twice)}")
        return v
