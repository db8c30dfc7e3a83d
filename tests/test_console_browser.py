"""The console in a real browser: Debian's headless chromium, driven by selenium through
chromedriver, against kefu on 127.0.0.1 fed by signed WeChat and WeCom callbacks. Each page is
photographed; `KEFU_SCREENSHOTS=1 pytest -n0 tests/test_console_browser.py` writes the pictures
into docs/console/ (the ones docs/console.md shows)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox import Sandbox
from bot.clock import FixedClock
from tests.console_client import CONSOLE, PASSWORD

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "console"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EVERY_DAY = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
LIVE = 2.0  # the desk view shows a change within this long, without a reload

# one worker, so one chromium for the module; tests/test_bench_smoke.py shares it, so the
# benchmark's timing never runs beside chromium
pytestmark = pytest.mark.xdist_group("browser")


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{', '.join(missing)} is required in CI (.ci/run installs chromium and chromium-driver)")
    pytest.skip(f"{', '.join(missing)} is not installed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless chromium for the module (it takes about a second to start)."""
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(arg)
    options.add_argument("--lang=zh-CN")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
async def desk(tmp_path) -> Iterator[Sandbox]:
    """Agents offline at the start, the desk open around the clock."""
    extra = {**CONSOLE, "schedule": {"weekly": EVERY_DAY}, "presence": {"idle_offline": 0}}
    names = {"o_zhangsan": "张三"}
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", nicknames=names, extra=extra, online=[]) as sb:
        yield sb


async def in_browser(fn: Callable[..., Any], *args: Any) -> Any:
    """Selenium blocks: run it off the loop that serves kefu."""
    return await asyncio.to_thread(fn, *args)


def _wait(driver: Any, what: Callable[[Any], Any], timeout: float, message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(what, message)


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def _shot(driver: Any, name: str) -> None:
    """Every run photographs the page; into docs/console/ when KEFU_SCREENSHOTS=1 (or the picture is
    missing there), so a plain test run leaves the committed pictures as they are."""
    path = SHOTS / f"{name}.png"
    if not (os.environ.get("KEFU_SCREENSHOTS") or not path.exists()):
        path = driver.downloads.parent / "shots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), f"no screenshot of {name}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _log_in(driver: Any, base: str, password: str = PASSWORD) -> None:
    from selenium.webdriver.common.by import By

    if "/console/login" not in driver.current_url:
        driver.get(base + "/console/login")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()


async def test_without_a_session_the_login_and_a_wrong_password_is_refused(browser, desk: Sandbox):
    base = desk.base_url

    def steps() -> None:
        browser.delete_all_cookies()
        browser.get(base + "/console/reports")
        login = base + "/console/login?next=/console/reports"
        assert browser.current_url.replace("%2F", "/") == login, "a page without a session goes to the login"
        _shot(browser, "login")
        _log_in(browser, base, password="not-the-password")
        _wait(browser, lambda d: "用户名或密码错误" in d.page_source, 3, "a wrong password is refused")
        assert browser.current_url == base + "/console/login"
        browser.get(base + "/console/")
        assert browser.current_url == base + "/console/login", "still no session"
        browser.get(base + "/console/reports")
        _log_in(browser, base, password="not-it-either")
        _wait(browser, lambda d: "用户名或密码错误" in d.page_source, 3, "refused again")
        _log_in(browser, base)  # the right one, after wrong ones: on to the page first asked for
        _wait(browser, lambda d: d.current_url == base + "/console/reports", 3, "the reports, after logging in")

    await in_browser(steps)
    refused = [r["action"] for r in reversed(await desk.kefu.store.audit_log())]
    assert refused == ["login_refused", "login_refused", "login"]


async def test_a_customer_appears_live_is_taken_answered_and_read_back(browser, desk: Sandbox):
    sb, base = desk, desk.base_url

    def log_in() -> None:
        browser.delete_all_cookies()
        browser.get(base + "/console/")
        _log_in(browser, base)
        _wait(browser, lambda d: d.current_url == base + "/console/", 3, "logged in, at the desk")
        assert "没有等待的客户" in _text(browser, "#waiting")

    await in_browser(log_in)
    loaded_at = await in_browser(lambda: browser.execute_script("return performance.timeOrigin"))

    # a customer writes on WeChat (a signed, encrypted callback): the waiting list shows them
    status, body = await sb.customer.post(sb.http, sb.customer.text_xml("o_zhangsan", "我的订单还没到", 7001))
    assert (status, body) == (200, "success")
    sent = time.monotonic()

    def waiting() -> float:
        _wait(browser, lambda d: "张三" in _text(d, "#waiting"), LIVE + 1, "the customer in the waiting list")
        took = time.monotonic() - sent
        row = _text(browser, "#waiting tbody tr")
        assert row.startswith("1 #1001 张三 公众号"), row
        _shot(browser, "desk-waiting")
        return took

    took = await in_browser(waiting)
    assert took <= LIVE, f"shown after {took:.1f}s"

    # the agent comes online and answers on WeCom: the customer moves to them, then is answered
    await sb.say("lixiaoli", "上线")

    def taken() -> None:
        _wait(browser, lambda d: "#1001" in _text(d, "#serving"), LIVE + 1, "the conversation with its agent")
        assert "没有等待的客户" in _text(browser, "#waiting")
        row = _text(browser, "#serving tbody tr")
        assert row.startswith("小李 #1001 张三 公众号") and "秒" in row, row
        assert "1/5" in _text(browser, "#agents")

    await in_browser(taken)
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")

    def answered() -> None:
        _wait(browser, lambda d: "已回复" in _text(d, "#serving"), LIVE + 1, "the customer answered")
        _shot(browser, "desk-answered")
        assert browser.execute_script("return performance.timeOrigin") == loaded_at, "never reloaded"

    await in_browser(answered)
    await sb.settle()

    def transcript() -> None:
        from selenium.webdriver.common.by import By

        browser.find_element(By.LINK_TEXT, "#1001").click()
        _wait(browser, lambda d: d.current_url == base + "/console/conversations/1001", 3, "the transcript")
        said = _text(browser, "#transcript")
        for line in ("我的订单还没到", "您好,已为您查询,明天送达", "已送达"):
            assert line in said, line
        _shot(browser, "transcript")
        browser.get(base + "/console/conversations?customer=张三")
        assert "#1001" in _text(browser, "#results")
        _shot(browser, "conversations")

    await in_browser(transcript)

    def csrf_refused() -> None:
        from selenium.webdriver.common.by import By

        browser.get(base + "/console/conversations/1001")
        browser.execute_script("document.querySelector('#close input[name=csrf]').remove()")
        browser.find_element(By.CSS_SELECTOR, "#close button").click()
        _wait(browser, lambda d: "CSRF" in d.page_source, 3, "the form without its token is refused")

    await in_browser(csrf_refused)
    assert (await sb.kefu.store.by_ticket(1001)).status == "open", "nothing was closed"

    def record_sheet() -> list[dict[str, str]]:
        from selenium.webdriver.common.by import By

        browser.get(base + "/console/reports")
        browser.find_element(By.ID, "sheet-csv").click()
        path = _wait(browser, lambda d: next(iter(sorted(d.downloads.glob("*.csv"))), None), 5, "the CSV downloaded")
        return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))

    rows = await in_browser(record_sheet)
    assert [(r["工单号"], r["客户"], r["渠道"], r["受理客服"], r["咨询内容摘要"], r["处理结果"]) for r in rows] == [
        ("#1001", "张三", "公众号", "小李", "我的订单还没到", "处理中")
    ]

    def set_up_and_phone() -> None:
        browser.get(base + "/console/setup")
        assert f"{base}/wechat/mp" in _text(browser, "#accounts")
        _shot(browser, "setup")
        browser.set_window_size(390, 844)
        try:
            browser.get(base + "/console/")
            width = browser.execute_script("return document.documentElement.scrollWidth")
            assert width <= 390, f"the desk view is {width}px wide on a phone"
            _shot(browser, "desk-phone")
        finally:
            browser.set_window_size(1280, 800)

    await in_browser(set_up_and_phone)
    actions = [r["action"] for r in reversed(await sb.kefu.store.audit_log())]
    assert actions == ["login", "csrf_refused", "download"]


async def _history(sb: Sandbox, users: dict[str, str]) -> None:
    """Three days of answered, closed and rated conversations, at different hours and speeds."""
    assert isinstance(sb.clock, FixedClock)
    customers = ["o_zhangsan", "o_lisi", "o_wangwu"]
    for day in range(3):
        for k, openid in enumerate(customers):
            await sb.write(openid, ["我的订单还没到", "发票怎么开", "想退货"][k])
            await sb.settle()
            sb.clock.advance([12, 40, 95][(day + k) % 3])  # the first response: 12 s, 40 s or 95 s
            conv = await sb.kefu.store.open_conversation("mp", openid)
            assert conv is not None and conv.agent
            await sb.say(users[conv.agent], f"#{conv.ticket} 您好,已为您处理")
            await sb.settle()
            await sb.say(users[conv.agent], f"/close #{conv.ticket}")
            await sb.settle()
            await sb.write(openid, ["5", "4", "2"][(day + k) % 3])
            await sb.settle()
            sb.clock.advance(2 * 3600)
        sb.clock.advance(24 * 3600 - 6 * 3600)


async def test_a_busy_desk_shows_places_and_late_answers_in_red_and_a_week_of_reports(browser, tmp_path):
    users = {"小李": "lixiaoli", "小王": "wangxiaowang"}
    extra = {
        **CONSOLE,
        "schedule": {"weekly": EVERY_DAY},
        "presence": {"idle_offline": 0},
        "sla": {"first_response": "60s", "escalate_after": 0},
        "agents": [{"name": n, "ids": {"desk": uid}, "capacity": 2} for n, uid in users.items()],
    }
    names = {"o_zhangsan": "张三", "o_lisi": "李四", "o_wangwu": "王五", "o_zhaoliu": "赵六", "o_sunqi": "孙七"}
    sb = Sandbox.at("2026-11-20 09:10", storage=f"sqlite:///{tmp_path / 'k.db'}", nicknames=names, extra=extra)
    async with sb:
        await _history(sb, users)
        await sb.say("wangxiaowang", "下线")
        for openid in ("o_zhangsan", "o_lisi", "o_zhaoliu", "o_sunqi"):  # 小李 takes two; two wait
            await sb.write(openid, "你好,在吗?")
            await sb.settle()
            sb.clock.advance(5)
        first = await sb.kefu.store.open_conversation("mp", "o_zhangsan")
        await sb.say("lixiaoli", f"#{first.ticket} 在的,请讲")
        await sb.settle()
        sb.clock.advance(70)  # 李四 has waited past the 60 s limit for 小李's answer
        base = sb.base_url

        def desk() -> None:
            browser.delete_all_cookies()
            _log_in(browser, base)
            _wait(browser, lambda d: d.current_url == base + "/console/", 3, "logged in")
            waiting = [r.split()[:3] for r in _text(browser, "#waiting tbody").splitlines()]
            assert waiting == [["1", "#1012", "赵六"], ["2", "#1013", "孙七"]], waiting
            from selenium.webdriver.common.by import By

            late = browser.find_elements(By.CSS_SELECTOR, "#serving td.late")
            assert [c.text for c in late] == ["1 分 25 秒"], "李四, unanswered past the limit"
            assert late[0].value_of_css_property("color") == "rgba(198, 40, 40, 1)", "in red"
            time.sleep(1.2)  # and still after the page has redrawn itself
            late = browser.find_elements(By.CSS_SELECTOR, "#serving td.late")
            assert [c.text for c in late] == ["1 分 25 秒"]
            assert "2/2" in _text(browser, "#agents")
            _shot(browser, "desk")

        await in_browser(desk)

        def reports() -> str:
            browser.set_window_size(1280, 1400)  # the six charts in one picture
            try:
                browser.get(base + "/console/reports?from=2026-11-17&to=2026-11-23")
                _shot(browser, "reports")
                return str(browser.page_source)
            finally:
                browser.set_window_size(1280, 800)

        html = await in_browser(reports)
    assert "共 13 个咨询会话,9 条评价" in html
    assert "<title>11-20: 3</title>" in html and "<title>11-23: 4</title>" in html
