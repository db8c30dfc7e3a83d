"""A table of raw DingTalk robot payloads, each with the normalized message it must give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.dingtalk.inbound import to_message

TABLE = Path(__file__).parent / "fixtures" / "dingtalk" / "messages.json"
CASES = [pytest.param(case, id=case["name"]) for case in json.loads(TABLE.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("case", CASES)
def test_payload_is_normalized(case: dict):
    msg = to_message("dd", json.dumps(case["payload"], ensure_ascii=False).encode())
    assert msg.account == "dd"
    assert msg.sent_at == 1763800000
    for field, want in case["expect"].items():
        got = getattr(msg, field)
        if isinstance(want, dict):  # only the keys named; None means the key must be absent
            assert {k: got.get(k) for k in want} == want, field
        else:
            assert got == want, field
