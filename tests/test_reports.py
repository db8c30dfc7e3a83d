"""The record sheet (在线客服受理记录表) and the daily summary, from `kefu report`, for a month
seeded through the real webhooks."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import yaml
from openpyxl import load_workbook

from adapters.sandbox import Sandbox
from handlers.reports import COLUMNS, duration_text
from tests.test_rulebook2 import BASE

DAY = 86400


async def _seed_month(db: Path) -> Sandbox:
    sb = Sandbox.at(
        "2026-10-31 10:00",
        storage=f"sqlite:///{db}",
        extra=BASE,
        nicknames={"o_a": "张三", "o_b": "李四", "o_c": "王五", "o_d": "赵六"},
    )
    async with sb:

        async def talk(who: str, text: str) -> None:
            await sb.write(who, text)
            await sb.settle()

        await talk("o_a", "十月的问题")  # before the month
        sb.clock.advance(3 * DAY)  # 11-03 10:00
        await talk("o_b", "我要投诉,快递三天没到")
        sb.clock.advance(45)
        await sb.say("wangxiaowang", "#1002 非常抱歉,已为您催促快递,明天送达")
        await sb.say("wangxiaowang", "/close #1002")
        await sb.settle()
        await talk("o_b", "5")
        sb.clock.advance(12 * DAY)  # 11-15 10:00
        await talk("o_c", "发票怎么开")
        await talk("o_c", "急用")
        sb.clock.advance(130)
        await sb.say("lixiaoli", "#1003 您好,电子发票将在发货后开具")
        await sb.settle()
        sb.clock.advance(16 * DAY)  # 12-01
        await talk("o_d", "十二月的问题")
    return sb


def _config(tmp_path: Path, db: Path) -> Path:
    cfg = yaml.safe_load((Path(__file__).parent.parent / "config" / "kefu.example.yaml").read_text("utf-8"))
    cfg["storage"] = f"sqlite:///{db}"
    path = tmp_path / "kefu.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def kefu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=60)


EXPECTED = [
    ["2026-11-03", "#1002", "李四", "公众号", "投诉", "我要投诉,快递三天没到", "小王", "45秒", "已结束", "5分"],
    ["2026-11-15", "#1003", "王五", "公众号", "咨询", "发票怎么开 / 急用", "小李", "2分10秒", "处理中", "未评价"],
]


async def test_the_xlsx_record_sheet_holds_the_months_conversations(tmp_path):
    db = tmp_path / "kefu.db"
    await _seed_month(db)
    out = tmp_path / "sheet.xlsx"
    r = kefu(
        "report",
        "--config",
        str(_config(tmp_path, db)),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--format",
        "xlsx",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "2 conversations" in r.stdout
    ws = load_workbook(out).active
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == COLUMNS
    assert rows[1:] == EXPECTED


async def test_the_csv_record_sheet_is_utf8_with_a_bom(tmp_path):
    db = tmp_path / "kefu.db"
    await _seed_month(db)
    out = tmp_path / "sheet.csv"
    r = kefu(
        "report",
        "--config",
        str(_config(tmp_path, db)),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows == [COLUMNS, *EXPECTED]


async def test_the_daily_summary_on_demand(tmp_path):
    db = tmp_path / "kefu.db"
    await _seed_month(db)
    r = kefu("report", "--config", str(_config(tmp_path, db)), "--daily", "2026-11-15")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:4] == [
        "📊 在线客服日报 2026-11-15",
        "会话: 1 (已结束 0, 未结束 1)",
        "首次响应: 中位数 2分10秒, P90 2分10秒 (已响应 1/1)",
        "超时 (首次响应超过 1分): 1",
    ]
    bad = kefu("report", "--config", str(_config(tmp_path, db)), "--daily", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_durations_read_as_people_write_them():
    assert [duration_text(s) for s in (None, 0, 45, 60, 130, 3600 + 300)] == [
        "未响应",
        "0秒",
        "45秒",
        "1分",
        "2分10秒",
        "1小时5分",
    ]
