"""The `faq:` section: the knowledge base that answers common questions before a person (handlers/faq)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bot.config_types import CONFIG_DIR, Strict

__all__ = ["FaqConfig"]


class FaqConfig(Strict):
    """The knowledge base: common questions answered before a person (handlers/faq)."""

    file: str = ""  # YAML or XLSX, relative to the config file; empty: no knowledge base
    engine: Literal["embedding", "bigrams", "words", "both"] = "embedding"  # bench/RESULTS.md says why
    answer_at: float = Field(default=0.775, gt=0, le=1)  # score to answer the customer at once (bench/faq.py)
    suggest_at: float = Field(default=0.225, gt=0, le=1)  # score to suggest the entry to the agent
    handover_words: list[str] = ["人工", "转人工"]
    handover_line: str = "回复「人工」转人工服务"  # after each automatic answer
    menu_key: str = ""  # a menu entry's key that asks for a person, like 人工
    misses: int = Field(default=2, ge=1)  # unanswered questions in a row that hand the customer over

    @model_validator(mode="after")
    def _order(self) -> FaqConfig:
        if self.suggest_at > self.answer_at:
            raise ValueError("suggest_at must not be above answer_at")
        return self

    @field_validator("file")
    @classmethod
    def _relative(cls, v: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get(CONFIG_DIR)
        if v and base is not None and not Path(v).is_absolute():
            return str(Path(base) / v)
        return v
