"""The admin's file: the example runs as it is; a mistake names the key, exits 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import load_config, parse_config
from bot.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent / "config" / "kefu.example.yaml"


def kefu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=60)


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def problems(raw: dict, env: dict | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as e:
        parse_config(raw, env=env or {})
    return e.value.problems


def test_check_config_passes_on_the_example():
    r = kefu("check-config", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout and "/wechat/mp" in r.stdout and "/wecom/desk" in r.stdout


def test_check_config_names_the_broken_key_and_exits_2(tmp_path):
    raw = example()
    raw["accounts"][0]["encoding_aes_key"] = "tooshort"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    r = kefu("check-config", str(bad))
    assert r.returncode == 2
    assert "accounts[0].encoding_aes_key: must be 43 characters (got 8)" in r.stderr
    assert "Traceback" not in r.stderr


def test_run_refuses_to_start_on_a_broken_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - name: mp\n    platform: wechat\n", encoding="utf-8")
    r = kefu("run", "--config", str(bad))
    assert r.returncode == 2 and "accounts[0].role: is required" in r.stderr and "Traceback" not in r.stderr


def test_invalid_yaml_says_where(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [\n", encoding="utf-8")
    r = kefu("check-config", str(bad))
    assert r.returncode == 2 and "line 2" in r.stderr


def test_variables_are_substituted_with_defaults_and_a_missing_one_is_named():
    raw = example()
    cfg = parse_config(raw, env={"WECHAT_APP_ID": "wx_from_env", "KEFU_PORT": "9090"})
    assert cfg.account("mp").app_id == "wx_from_env" and cfg.server.port == 9090
    assert cfg.account("mp").app_secret == "your_app_secret"  # the :- default
    raw["accounts"][0]["app_secret"] = "${WECHAT_APP_SECRET}"
    assert problems(raw) == [
        (
            "accounts[0].app_secret",
            "environment variable WECHAT_APP_SECRET is not set (write ${WECHAT_APP_SECRET:-default} for a default)",
        )
    ]


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda r: r["accounts"][1].update(tokn="x"), "accounts[1].tokn", "unknown key"),
        (lambda r: r["accounts"][1].update(platform="fax"), "accounts[1].platform", "'fax' is not a platform"),
        (lambda r: r["accounts"][1].pop("corp_id"), "accounts[1].corp_id", "is required"),
        (lambda r: r["accounts"][1].update(name="mp"), "accounts[1].name", "already used by accounts[0]"),
        (lambda r: r["accounts"][0].update(name="MP Account"), "accounts[0].name", "a-z 0-9"),
        (lambda r: r["agents"][0]["ids"].update(mp="x"), "agents[0].ids.mp", "not the name of a desk account"),
        (lambda r: r.update(bus="kafka://x"), "bus", "memory:// or redis://"),
        (lambda r: r.update(storage="mysql://x"), "storage", "sqlite:/// or postgresql://"),
        (
            lambda r: r["groups"].update(g={"account": "nope", "chat_id": "c"}),
            "groups.g.account",
            "no account is named",
        ),
        (lambda r: r["groups"].update(g={"account": "desk"}), "groups.g", "exactly one of webhook_key"),
        (lambda r: r["server"].update(port=70000), "server.port", "less than or equal to 65535"),
        (lambda r: r["server"].update(callbacks_first="2s"), "server.callbacks_first", "less than or equal to 1"),
        (lambda r: r["server"].update(callbacks_first="fast"), "server.callbacks_first", "like 60s, 5m"),
    ],
)
def test_each_mistake_names_its_key(change, key: str, words: str):
    raw = example()
    change(raw)
    found = problems(raw)
    assert any(k == key and words in p for k, p in found), found


def test_a_desk_is_required():
    raw = example()
    raw["accounts"] = raw["accounts"][:1]
    raw["agents"] = []
    assert ("accounts", "no account has role: desk, so no agent could answer") in problems(raw)


def test_the_example_loads_from_disk():
    cfg = load_config(EXAMPLE, env={})
    assert [a.name for a in cfg.accounts] == ["mp", "desk"]
    assert cfg.messages.greeting == "您好,我是在线客服,很高兴为您服务"
