"""The embedding engine's vectors, kept in a file beside the knowledge file (.faq.yaml.vectors.npz),
so a restart or `kefu faq test` embeds only the questions that changed, not all of them again
(a minute for 1,000 entries). A file that cannot be read or written is only a slower start."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from loguru import logger

__all__ = ["beside", "read_vectors", "write_vectors"]

Key = tuple[str, str]  # (query | passage, normalized text)


def beside(knowledge: str) -> Path:
    p = Path(knowledge)
    return p.with_name(f".{p.name}.vectors.npz")


def read_vectors(path: Path, model: str) -> dict[Key, np.ndarray]:
    """What the file holds for this model; nothing if it is missing, unreadable or another model's."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["model"]) != model:
                return {}
            kinds, texts, vectors = f["kinds"], f["texts"], f["vectors"]
    except (OSError, ValueError, KeyError) as e:
        if not isinstance(e, FileNotFoundError):
            logger.warning("faq: {} not read ({}); embedding every question again", path, e)
        return {}
    return {(str(k), str(t)): v for k, t, v in zip(kinds, texts, vectors, strict=True)}


def write_vectors(path: Path, model: str, known: dict[Key, np.ndarray]) -> None:
    if not known:
        return
    keys = list(known)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")  # `kefu run --workers N`: one each
    try:
        np.savez(
            tmp,
            model=np.array(model),
            kinds=np.array([k for k, _ in keys]),
            texts=np.array([t for _, t in keys]),
            vectors=np.stack([known[k] for k in keys]),
        )
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except OSError as e:
        logger.warning("faq: {} not written ({}); the next start embeds the questions again", path, e)
