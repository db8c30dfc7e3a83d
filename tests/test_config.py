"""The admin's file: the example runs as it is; a mistake names the key, exits 2, no traceback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from bot.errors import ConfigError
from bot.loader import load_config, parse_config

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


# -- placeholders left from the example ------------------------------------------------------

EXAMPLE_VARIABLES = sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", EXAMPLE.read_text(encoding="utf-8"))))


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any variable the example reads, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k not in EXAMPLE_VARIABLES}
    return {**env, **values}


def warning(key: str, value: str, variable: str) -> str:
    return (
        f"kefu: warning: {key} still holds the placeholder '{value}' from the example; "
        f"set {variable} or your real value"
    )


EXAMPLE_WARNINGS = [
    warning("accounts[0].app_id", "wx_your_app_id", "WECHAT_APP_ID"),
    warning("accounts[0].app_secret", "your_app_secret", "WECHAT_APP_SECRET"),
    warning("accounts[0].token", "your_token", "WECHAT_TOKEN"),
    warning("accounts[1].corp_id", "ww_your_corp_id", "WECOM_CORP_ID"),
    warning("accounts[1].secret", "your_app_secret", "WECOM_SECRET"),
    warning("accounts[1].token", "your_token", "WECOM_TOKEN"),
    warning("accounts[1].encoding_aes_key", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "WECOM_AES_KEY"),
    warning("groups.service.webhook_key", "your-robot-key", "WECOM_ROBOT_KEY"),
    warning("groups.supervisors.webhook_key", "your-supervisor-robot-key", "WECOM_SUPERVISOR_ROBOT_KEY"),
    warning("groups.after_sales.chat_id", "your_after_sales_chat_id", "WECOM_AFTER_SALES_CHAT"),
    warning("groups.sales.webhook_key", "your-sales-robot-key", "WECOM_SALES_ROBOT_KEY"),
]


def test_check_config_warns_of_each_placeholder_left_from_the_example():
    r = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert r.returncode == 0 and "OK" in r.stdout  # a warning: the example still runs as it is
    assert r.stderr.splitlines() == EXAMPLE_WARNINGS


def test_a_filled_in_file_gets_no_placeholder_warning():
    real = {
        "WECHAT_APP_ID": "wx5c1e7d9a3b2f4e60",
        "WECHAT_APP_SECRET": "4f1d2c3b5a6978e0d1c2b3a4f5e6d7c8",
        "WECHAT_TOKEN": "kefu2026",
        "WECOM_CORP_ID": "ww8d2e4f6a1b3c5d70",
        "WECOM_SECRET": "Q2w3E4r5T6y7U8i9O0pL",
        "WECOM_TOKEN": "kefu2026",
        "WECOM_AES_KEY": "Kq3ZbT8vW1xY4nR7mP0sL5dF2gH9jC6aE3uI8oN1tB4",
        "WECOM_ROBOT_KEY": "693a91f6-7f0e-4a2b",
        "WECOM_SUPERVISOR_ROBOT_KEY": "1b2c3d4e-5f60-4a2b",
        "WECOM_AFTER_SALES_CHAT": "wrkSFfCgAAxxxx",
        "WECOM_SALES_ROBOT_KEY": "0f9e8d7c-6b5a-4a2b",
    }
    r = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**real),
    )
    assert r.returncode == 0 and r.stderr == ""


def test_placeholders_are_found_by_their_look_not_their_key():
    from bot.placeholders import find_placeholders

    raw = {
        "storage": "${KEFU_STORAGE:-sqlite:///kefu.db}",
        "accounts": [
            {"name": "qq", "access_token": "your_onebot_token", "secret": "${ONEBOT_SECRET:-your-secret}"},
            {"name": "dd", "app_key": "dingyour_key", "app_secret": "Your real one"},
        ],
        "groups": {
            "sales": {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=your_token", "secret": "SEC..."}
        },
        "messages": {"greeting": "您好,我是在线客服"},
    }
    found = [(p.key, p.value, p.variables) for p in find_placeholders(raw, env={})]
    assert found == [
        ("accounts[0].access_token", "your_onebot_token", []),
        ("accounts[0].secret", "your-secret", ["ONEBOT_SECRET"]),
        ("groups.sales.webhook", "https://oapi.dingtalk.com/robot/send?access_token=your_token", []),
        ("groups.sales.secret", "SEC...", []),
    ]
    assert "accounts[0].secret" not in [p.key for p in find_placeholders(raw, env={"ONEBOT_SECRET": "Zx81kq"})]


def test_run_warns_of_placeholders_and_still_starts(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = clean_env(KEFU_PORT=str(port), KEFU_STORAGE=f"sqlite:///{tmp_path / 'kefu.db'}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(EXAMPLE)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "kefu did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert err.splitlines()[: len(EXAMPLE_WARNINGS)] == EXAMPLE_WARNINGS


# -- service hours that overlap ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "key", "problem"),
    [
        (
            {"weekly": {"mon": ["08:30-12:00", "11:00-13:00"]}},
            "schedule.weekly.mon",
            '"08:30-12:00" overlaps "11:00-13:00"',
        ),
        (
            {"workdays": {"2026-09-27": ["13:00-17:30", "08:30-13:30"]}},
            "schedule.workdays.2026-09-27",
            '"08:30-13:30" overlaps "13:00-17:30"',
        ),
        (
            {"weekly": {"fri": ["20:00-02:00"], "sat": ["01:00-05:00"]}},
            "schedule.weekly.fri",
            '"20:00-02:00" runs past midnight into sat\'s "01:00-05:00"',
        ),
        (
            {"weekly": {"sun": ["22:00-09:00"], "mon": ["08:30-12:00"]}},
            "schedule.weekly.sun",
            '"22:00-09:00" runs past midnight into mon\'s "08:30-12:00"',
        ),
        (  # 2026-09-27 is a Sunday: the Monday after opens at 08:30 by the weekly default
            {"workdays": {"2026-09-27": ["22:00-09:00"]}},
            "schedule.workdays.2026-09-27",
            '"22:00-09:00" runs past midnight into 2026-09-28\'s "08:30-12:00"',
        ),
        (
            {"weekly": {"sat": ["20:00-02:00"]}, "workdays": {"2026-09-27": ["01:00-05:00"]}},
            "schedule.workdays.2026-09-27",
            '"01:00-05:00" starts before 2026-09-26\'s "20:00-02:00" ends',
        ),
    ],
)
def test_overlapping_service_windows_are_refused_naming_the_day(schedule: dict, key: str, problem: str):
    raw = example()
    raw["schedule"] = schedule
    assert (key, problem) in problems(raw)


@pytest.mark.parametrize(
    "schedule",
    [
        {"weekly": {"mon": ["08:00-12:00", "12:00-13:00"]}},  # touching is not overlapping
        {"weekly": {"mon": ["22:00-02:00"], "tue": ["02:00-05:00"]}},
        {"workdays": {"2026-09-27": ["22:00-09:00"]}, "holidays": ["2026-09-28"]},  # the Monday is closed
    ],
)
def test_windows_that_only_touch_are_accepted(schedule: dict):
    raw = example()
    raw["schedule"] = schedule
    parse_config(raw, env={})


def test_check_config_names_an_overlap_and_exits_2(tmp_path):
    raw = example()
    raw["schedule"]["weekly"]["mon"] = ["08:30-12:00", "11:00-13:00"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    r = kefu("check-config", str(bad))
    assert r.returncode == 2 and '  schedule.weekly.mon: "08:30-12:00" overlaps "11:00-13:00"' in r.stderr.splitlines()
