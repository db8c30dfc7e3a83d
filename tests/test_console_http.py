"""The console over plain HTTP, on both engine pairs where storage is involved: logging in, the
rate limit on wrong passwords, CSRF, the audit log, masked secrets, and a supervisor's actions
going through the desk's rules."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import yaml
from openpyxl import load_workbook

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND
from bot.config_console import HASH_FORMAT
from bot.errors import ConfigError
from bot.loader import parse_config
from bot.sender import Sender
from console.passwords import hash_password, verify_password
from tests.console_client import CONSOLE, PASSWORD, Supervisor, csrf_of
from tests.fleet import secrets_in

PAGES = ["/", "/conversations", "/conversations/1001", "/reports", "/reports/sheet.csv", "/setup"]


@pytest.fixture
async def desk(engines: tuple[str, str]):
    bus, storage = engines
    async with Sandbox(storage=storage, bus=bus, nicknames={"o_zhangsan": "张三"}, extra=CONSOLE) as sb:
        yield sb


async def _audit(sb: Sandbox) -> list[tuple[str, str, str]]:
    return [(r["username"], r["action"], r["outcome"]) for r in reversed(await sb.kefu.store.audit_log())]


async def test_without_a_console_section_there_is_no_console(local_sandbox: Sandbox):
    sb = local_sandbox
    async with sb.http.get(f"{sb.base_url}/console/login") as r:
        assert r.status == 404


async def test_every_page_without_a_session_goes_to_the_login(desk: Sandbox):
    async with Supervisor(desk) as sup:
        assert await sup.get("/") == (302, "/console/login")
        for path in PAGES[1:]:
            status, where = await sup.get(path)
            assert (status, where.split("?")[0]) == (302, "/console/login"), path
            assert parse_qs(urlsplit(where).query)["next"] == [f"/console{path}"], "to come back to it"
        assert (await sup.get("/api/desk"))[0] == 401
        status, page = await sup.get("/login")
        assert status == 200 and 'name="username"' in page and 'name="password"' in page


async def test_after_logging_in_the_page_asked_for_opens_and_never_another_site(desk: Sandbox):
    for asked, lands in (
        ("/console/reports?from=2026-11-01", "/console/reports?from=2026-11-01"),
        ("//evil.example/console/", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("/console//evil.example", "/console/"),
        ("/console/\\evil.example", "/console/"),
    ):
        async with Supervisor(desk) as sup:
            status, page = await sup.get("/login", params={"next": asked})
            form = {"username": "admin", "password": PASSWORD, "csrf": csrf_of(page), "next": asked}
            async with sup.http.post(sup.base + "/login", data=form, allow_redirects=False) as r:
                assert (r.status, r.headers["Location"]) == (303, lands), asked


async def test_login_sets_a_same_site_http_only_cookie_and_is_audited(desk: Sandbox):
    async with Supervisor(desk) as sup:
        _, page = await sup.get("/login")
        form = {"username": "admin", "password": PASSWORD, "csrf": csrf_of(page)}
        async with sup.http.post(sup.base + "/login", data=form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/console/"
            cookie = next(v for k, v in r.headers.items() if k == "Set-Cookie" and v.startswith("kefu_console="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        status, html = await sup.get("/")
        assert status == 200 and "等待接入" in html and "admin" in html
        sup.csrf = csrf_of(html)
        status, _ = await sup.post("/logout")
        assert status == 303
        assert await sup.get("/") == (302, "/console/login")
    assert await _audit(desk) == [("admin", "login", "ok"), ("admin", "logout", "ok")]


async def test_behind_tls_the_cookie_is_secure(desk: Sandbox):
    async with Supervisor(desk) as sup:
        _, page = await sup.get("/login")
        form = {"username": "admin", "password": PASSWORD, "csrf": csrf_of(page)}
        headers = {"X-Forwarded-Proto": "https"}
        async with sup.http.post(sup.base + "/login", data=form, headers=headers, allow_redirects=False) as r:
            assert r.status == 303
            assert "Secure" in r.headers.getall("Set-Cookie")[0]


async def test_wrong_passwords_are_refused_then_rate_limited(desk: Sandbox):
    async with Supervisor(desk) as sup:
        for _ in range(5):
            status, page = await sup.login(password="wrong-password")
            assert status == 401 and "用户名或密码错误" in page
        status, page = await sup.login()  # even the right one, until the minute has passed
        assert status == 429 and "过多" in page
        assert (await sup.login(user="nobody", password="x" * 10))[0] == 401, "another user name is its own count"
        for k in range(14):  # but one address trying many names is stopped too (4 x 5 in all)
            assert (await sup.login(user=f"guess{k}", password="x" * 10))[0] == 401
        assert (await sup.login(user="guess-more", password="x" * 10))[0] == 429
        assert await sup.get("/") == (302, "/console/login")
    audit = await _audit(desk)
    assert audit[:6] == [("admin", "login_refused", "refused")] * 6
    assert ("admin", "login", "ok") not in audit and len(audit) == 22
    rows = await desk.kefu.store.audit_log()
    assert PASSWORD not in str(rows) and "wrong-password" not in str(rows), "passwords are never logged"


async def test_a_form_without_or_with_a_wrong_csrf_token_is_refused(desk: Sandbox):
    await desk.write("o_zhangsan", "我的订单还没到")
    await desk.settle()
    async with Supervisor(desk) as sup:
        assert (await sup.login())[0] == 303
        for token in ("", "forged-token"):
            status, text = await sup.post("/conversations/1001/close", csrf=token)
            assert status == 403 and "CSRF" in text
        assert (await desk.kefu.store.by_ticket(1001)).status == "open"
        # the login form has its own token too
        async with sup.http.post(sup.base + "/login", data={"username": "admin", "password": PASSWORD}) as r:
            assert r.status == 403
    assert [a for a in await _audit(desk) if a[1] == "csrf_refused"] == [
        ("admin", "csrf_refused", "refused"),
        ("admin", "csrf_refused", "refused"),
        ("admin", "csrf_refused", "refused"),
    ]


async def test_the_set_up_view_shows_webhooks_and_callbacks_never_secrets(desk: Sandbox):
    await desk.write("o_zhangsan", "你好")
    await desk.settle()
    async with Supervisor(desk) as sup:
        await sup.login()
        status, html = await sup.get("/setup")
    assert status == 200
    assert f"{desk.base_url}/wechat/mp" in html and f"{desk.base_url}/wecom/desk" in html
    assert "HTTP 200" in html, "the last callback and its answer"
    assert "有效 (已缓存)" in html, "the token was fetched for the greeting"
    assert "******" in html and "app_secret: &#39;******&#39;" in html or "app_secret: ******" in html
    assert secrets_in(html, desk) == []
    assert PASSWORD not in html

    query, body = desk.customer.signed(desk.customer.text_xml("o_zhangsan", "hi", 5))
    async with desk.http.post(desk.customer.url, params={**query, "signature": "0" * 40}, data=body) as r:
        assert r.status == 403  # a platform console with a wrong token, say
    async with Supervisor(desk) as sup:
        await sup.login()
        _, html = await sup.get("/setup")
    mp = html.split("<td>mp</td>", 1)[1].split("</tr>", 1)[0]
    assert "HTTP 403" in mp, "the refused callback is what the set-up view shows for mp"


async def test_reassign_goes_through_transfer_and_the_customer_is_told(desk: Sandbox):
    sb = desk
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1].startswith("#1001 张三")
    async with Supervisor(sb) as sup:
        await sup.login()
        status, where = await sup.post("/conversations/1001/reassign", {"agent": "小王"})
        assert (status, where) == (303, "/console/conversations/1001")
        _, page = await sup.get("/conversations/1001")
        assert "#1001 已转给 小王。" in page, "the supervisor sees the rules' answer"
        await sb.settle()
        assert (await sb.kefu.store.by_ticket(1001)).agent == "小王"
        assert sb.wechat.texts_to("o_zhangsan")[-1] == "正在为您转接其他客服,请稍候"
        assert sb.wecom.texts_to("wangxiaowang")[-1].startswith("小李 转给您 #1001 张三")
        assert "控制台 admin 操作" in page

        await sup.post("/conversations/1001/close")
        _, page = await sup.get("/conversations/1001")
        assert "#1001 张三 已结束。" in page
        await sb.settle()
        assert (await sb.kefu.store.by_ticket(1001)).status == "closed"
        assert sb.wechat.texts_to("o_zhangsan")[-1].startswith("感谢您的咨询"), "told, as /close does"
    actions = [a[1] for a in await _audit(sb)]
    assert actions == ["login", "reassign", "close"]


async def test_capacity_is_respected_when_a_supervisor_reassigns(tmp_path):
    extra = {
        **CONSOLE,
        "agents": [
            {"name": "小李", "ids": {"desk": "lixiaoli"}, "capacity": 1},
            {"name": "小王", "ids": {"desk": "wangxiaowang"}, "capacity": 1},
        ],
    }
    names = {"o_zhangsan": "张三", "o_lisi": "李四"}
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", nicknames=names, extra=extra) as sb:
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.write("o_lisi", "发票怎么开")
        await sb.settle()
        holders = {(await sb.kefu.store.by_ticket(t)).agent for t in (1001, 1002)}
        assert holders == {"小李", "小王"}
        async with Supervisor(sb) as sup:
            await sup.login()
            first = (await sb.kefu.store.by_ticket(1001)).agent
            other = ({"小李", "小王"} - {first}).pop()
            await sup.post("/conversations/1001/reassign", {"agent": other})
            _, page = await sup.get("/conversations/1001")
        assert f"{other} 已有 1/1 个会话,无法再接入" in page
        assert (await sb.kefu.store.by_ticket(1001)).agent == first


async def test_a_dead_letter_is_sent_again_from_the_desk_view(desk: Sandbox, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    sb = desk
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    sb.wechat.fail(CS_SEND, status=503, times=10)
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    await sb.settle()
    async with Supervisor(sb) as sup:
        await sup.login()
        api = await (await sup.http.get(sup.base + "/api/desk")).json()
        assert [d["text"] for d in api["dead"]] == ["您好,已为您查询,明天送达"]
        sb.wechat.faults.clear()
        status, where = await sup.post(f"/deadletters/{api['dead'][0]['id']}/retry")
        assert (status, where) == (303, "/console/")
        _, page = await sup.get("/")
        assert "已重新发送" in page
    await sb.settle()  # no timer run needed
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,已为您查询,明天送达"
    assert [a[1] for a in await _audit(sb)] == ["login", "retry"]


async def test_search_finds_by_text_customer_status_and_ticket(desk: Sandbox):
    sb = desk
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.write("o_lisi", "发票怎么开")
    await sb.settle()
    held = {t: (await sb.kefu.store.by_ticket(t)).agent for t in (1001, 1002)}
    holder = held[1001]
    async with Supervisor(sb) as sup:
        await sup.login()
        for query, tickets in (
            ({"text": "发票"}, ["#1002"]),
            ({"customer": "张三"}, ["#1001"]),
            ({"ticket": "#1002"}, ["#1002"]),
            ({"status": "open", "agent": holder}, [f"#{t}" for t in (1002, 1001) if held[t] == holder]),
            ({"status": "closed"}, []),
            ({"text": "100%_"}, []),
            ({"date_from": "2000-01-01", "date_to": "2099-12-31", "channel": "mp"}, ["#1002", "#1001"]),
        ):
            status, html = await sup.get("/conversations", params=query)
            assert status == 200
            found = [t for t in ("#1001", "#1002") if f">{t}</a>" in html]
            assert sorted(found, reverse=True) == tickets, query
        await sb.say("lixiaoli", "#1001 好的哦")  # a reply ending in 哦: warned, and sent
        await sb.settle()
        status, html = await sup.get("/conversations/1001")
        assert status == 200 and "我的订单还没到" in html and "已送达" in html
        assert "结尾语气词" in html and "已提醒" in html and "好的哦" in html, "the quality finding"
        assert (await sup.get("/conversations/9999"))[0] == 404


async def test_the_record_sheet_downloads_as_csv_and_xlsx(desk: Sandbox):
    sb = desk
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await sb.say("lixiaoli", "#1001 您好,明天送达")
    await sb.settle()
    async with Supervisor(sb) as sup:
        await sup.login()
        async with sup.http.get(sup.base + "/reports/sheet.csv") as r:
            assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
            rows = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
        async with sup.http.get(sup.base + "/reports/sheet.xlsx") as r:
            sheet = load_workbook(io.BytesIO(await r.read())).active
        status, html = await sup.get("/reports")
        assert status == 200 and html.count("<svg") == 6
        opened = (await sb.kefu.store.by_ticket(1001)).created_at
        today = dt.datetime.fromtimestamp(opened, ZoneInfo("Asia/Shanghai"))
        assert f"<title>{today:%m-%d}: 1</title>" in html, "the day's bar"
        assert f"<title>{today.hour}: 1</title>" in html, "the hour's bar"
        assert "<title>小李: 100</title>" in html, "answered within the limit"
        assert (await sup.get("/reports/sheet.csv", params={"from": "2026-13-01"}))[0] == 400
    assert [(r["工单号"], r["客户"], r["受理客服"], r["咨询内容摘要"]) for r in rows] == [
        ("#1001", "张三", "小李", "我的订单还没到")
    ]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("日期", "工单号", "客户") and values[1][1:3] == ("#1001", "张三")
    assert [a[1] for a in await _audit(sb)] == ["login", "download", "download"]


def test_console_users_come_from_the_environment_or_a_hash(tmp_path):
    base = Sandbox().config_dict()
    hashed = hash_password("another-pass-1")
    assert HASH_FORMAT.match(hashed) and verify_password("another-pass-1", hashed)
    assert not verify_password("another-pass-2", hashed)
    users = [{"name": "admin", "password": "${KEFU_CONSOLE_PASSWORD}"}, {"name": "lead", "password_hash": hashed}]
    cfg = parse_config({**base, "console": {"users": users}}, env={"KEFU_CONSOLE_PASSWORD": "from-the-env"})
    assert cfg.console is not None and cfg.console.users[0].password == "from-the-env"
    for bad, problem in (
        ({"users": [{"name": "a"}]}, "console.users[0]: give exactly one of password or password_hash"),
        ({"users": [{"name": "a", "password_hash": "md5$x"}]}, "console.users[0].password_hash: is not what"),
        ({"users": []}, "console.users: List should have at least 1 item"),
    ):
        with pytest.raises(ConfigError) as e:
            parse_config({**base, "console": bad}, env={})
        assert any(f"{k}: {p}".startswith(problem) for k, p in e.value.problems), e.value.problems


async def test_the_desk_view_shows_places_waits_loads_and_late_answers_in_red(tmp_path):
    extra = {**CONSOLE, "agents": [{"name": "小李", "ids": {"desk": "lixiaoli"}, "capacity": 1}]}
    names = {"o_zhangsan": "张三", "o_lisi": "李四", "o_wangwu": "王五"}
    sb = Sandbox.at("2026-11-24 10:00", storage=f"sqlite:///{tmp_path / 'k.db'}", nicknames=names, extra=extra)
    async with sb:
        for openid, text in (("o_zhangsan", "我的订单还没到"), ("o_lisi", "发票怎么开"), ("o_wangwu", "在吗")):
            await sb.write(openid, text)
            await sb.settle()
            sb.clock.advance(10)
        sb.clock.advance(45)  # 张三 has waited 75 s for an answer, past the 60 s limit
        async with Supervisor(sb) as sup:
            await sup.login()
            api = await (await sup.http.get(sup.base + "/api/desk")).json()
            _, html = await sup.get("/")
    assert [(w["place"], w["ticket"], w["customer"], round(w["waited"])) for w in api["waiting"]] == [
        (1, 1002, "李四", 65),
        (2, 1003, "王五", 55),
    ]
    (li,) = [a for a in api["agents"] if a["name"] == "小李"]
    assert (li["online"], li["load"], li["capacity"]) == (True, 1, 1)
    assert [(c["ticket"], round(c["unanswered"]), c["late"]) for c in li["conversations"]] == [(1001, 75, True)]
    assert api["today"]["conversations"] == 3 and api["today"]["breaches"] == 2
    assert '<td class="late">1 分 15 秒</td>' in html, "past the first-response limit: red"


def test_kefu_hash_password_prints_a_hash_the_console_accepts():
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "hash-password", "--stdin"],
        input="a-long-password\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    hashed = run.stdout.strip()
    assert HASH_FORMAT.match(hashed) and verify_password("a-long-password", hashed)
    short = subprocess.run(
        [sys.executable, "-m", "bot.cli", "hash-password", "--stdin"], input="short\n", capture_output=True, text=True
    )
    assert short.returncode == 2 and "at least 8" in short.stderr


async def test_a_user_with_a_password_hash_logs_in(tmp_path):
    users = {"console": {"users": [{"name": "lead", "password_hash": hash_password("lead-password")}]}}
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", extra=users) as sb, Supervisor(sb) as sup:
        assert (await sup.login("lead", "lead-password"))[0] == 303
        assert (await sup.get("/setup"))[0] == 200


def test_check_config_names_the_console_and_its_users(tmp_path):
    path = tmp_path / "kefu.yaml"
    path.write_text(yaml.safe_dump({**Sandbox().config_dict(), **CONSOLE}, allow_unicode=True), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    assert "  console: /console/ for admin" in run.stdout and PASSWORD not in run.stdout


async def test_the_set_up_view_gives_a_onebot_account_both_addresses_and_masks_its_keys(tmp_path):
    qq = {
        "name": "qq",
        "platform": "qq",
        "role": "customer",
        "protocol": "onebot",
        "access_token": "onebot-access-token-1",
        "secret": "onebot-signing-secret-1",
        "api_url": "http://127.0.0.1:9",
    }
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", more_accounts=[qq], extra=CONSOLE) as sb:
        async with Supervisor(sb) as sup:
            await sup.login()
            _, html = await sup.get("/setup", headers={"X-Forwarded-Proto": "https"})
    host = sb.base_url.removeprefix("http://")
    assert f"https://{host}/qq/qq<" in html and f"wss://{host}/qq/qq/ws<" in html
    assert "onebot-access-token-1" not in html and "onebot-signing-secret-1" not in html
    assert html.count("******") >= 8


def test_the_configuration_shown_masks_every_secret_and_password():
    from console.setup import masked_config

    raw = Sandbox().config_dict()
    raw["storage"] = "postgresql://kefu:pg-secret-word@db.internal:5432/kefu"
    raw["bus"] = "redis://:redis-secret-word@redis.internal:6379/0"
    raw["groups"]["sales"] = {
        "account": "desk",
        "webhook": "https://oapi.dingtalk.com/robot/send?access_token=robot-access-token-1",
        "secret": "SECrobot-signing-secret",
    }
    raw["console"] = {"users": [{"name": "admin", "password": "console-pass-1"}]}
    config = parse_config(raw, env={})
    shown = masked_config(config)
    for secret in (
        "pg-secret-word",
        "redis-secret-word",
        "robot-access-token-1",
        "SECrobot-signing-secret",
        "robot-key-service",
        "console-pass-1",
        raw["accounts"][0]["app_secret"],
        raw["accounts"][0]["encoding_aes_key"],
        raw["accounts"][1]["secret"],
        raw["accounts"][1]["token"],
    ):
        assert secret not in shown, secret
    loaded = yaml.safe_load(shown)
    assert loaded["storage"] == "postgresql://kefu:******@db.internal:5432/kefu"
    assert loaded["accounts"][0]["app_id"] == raw["accounts"][0]["app_id"], "what is not secret stays readable"
    assert loaded["groups"]["sales"]["webhook"].startswith("https://oapi.dingtalk.com/robot/send?access_token=*")
