"""What WeCom plays as a voice message: AMR (narrow band), at most 2 MB and 60 seconds."""

from __future__ import annotations

__all__ = ["MAX_BYTES", "MAX_SECONDS", "voice_problem"]

MAX_BYTES = 2 * 1024 * 1024
MAX_SECONDS = 60
_MAGIC = b"#!AMR\n"
# bytes of one 20 ms frame, its header byte included, by frame type (RFC 4867 5.3; 8 is SID, 15 no data)
_FRAME = {0: 13, 1: 14, 2: 16, 3: 18, 4: 20, 5: 21, 6: 27, 7: 32, 8: 6, 15: 1}


def seconds(data: bytes) -> float:
    """The length of an AMR file, counted frame by frame; ValueError if a frame type is unknown."""
    at, frames = len(_MAGIC), 0
    while at < len(data):
        kind = (data[at] >> 3) & 0x0F
        if kind not in _FRAME:
            raise ValueError(f"unknown AMR frame type {kind} at byte {at}")
        at += _FRAME[kind]
        frames += 1
    return frames * 0.02


def voice_problem(data: bytes) -> str | None:
    """Why WeCom would not take these bytes as a voice, or None."""
    if not data.startswith(_MAGIC):
        return "not AMR (WeCom plays only AMR voice)"
    if len(data) > MAX_BYTES:
        return f"{len(data)} bytes, over WeCom's {MAX_BYTES} for a voice"
    try:
        length = seconds(data)
    except ValueError as e:
        return f"a broken AMR file: {e}"
    if length > MAX_SECONDS:
        return f"{length:.0f} s, over WeCom's {MAX_SECONDS} s for a voice"
    return None
