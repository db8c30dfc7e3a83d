"""A WeCom callback signed an hour ago is refused (403, nothing taken) on both WeCom routes: the
self-built app (/wecom/<name>) and 微信客服 (/wecom_kf/<name>). Signed with wechatpy's own crypto."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest
from loguru import logger

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import new_aes_key
from adapters.wecom_kf.emulator import SYNC, WeComKfEmulator, WeComKfPusher

CORP, KF_SECRET, KFID, KF_TOKEN = "ww0123456789abcdef", "kf-secret-0001", "wkFresh0123456789", "kftoken-fresh"


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")
    yield lines
    logger.remove(sink)


class KfSandbox(Sandbox):
    """The sandbox, nobody online yet, plus a 微信客服 account "kf" on its own emulator."""

    kf: WeComKfEmulator
    kf_key: str

    def kf_pusher(self) -> WeComKfPusher:
        return WeComKfPusher(f"{self.base_url}/wecom_kf/kf", KF_TOKEN, self.kf_key, CORP, open_kfid=KFID)


@pytest.fixture
async def sb(tmp_path) -> AsyncIterator[KfSandbox]:
    kf = WeComKfEmulator(CORP, KF_SECRET, KFID)
    await kf.start()
    key = new_aes_key()
    kf_account = {
        "name": "kf",
        "platform": "wecom_kf",
        "role": "customer",
        "corp_id": CORP,
        "secret": KF_SECRET,
        "token": KF_TOKEN,
        "encoding_aes_key": key,
        "open_kfid": KFID,
        "api_base_url": kf.base_url,
    }
    box = KfSandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", online=[], more_accounts=[kf_account])
    box.kf, box.kf_key = kf, key
    async with box:
        yield box
    await kf.stop()


def _hour_ago() -> str:
    return str(int(time.time()) - 3600)


async def test_an_hour_old_wecom_app_callback_is_refused(sb: Sandbox, warnings: list[str]):
    assert sb.http is not None
    status, _ = await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "上线", 1), timestamp=_hour_ago())
    assert status == 403
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == [], "nothing was taken from the stale callback"
    assert any("timestamp" in w and "from now" in w for w in warnings), warnings

    status, _ = await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "上线", 2))
    assert status == 200
    await sb.settle()
    assert any("您已上线" in t for t in sb.wecom.texts_to("lixiaoli"))


@pytest.mark.parametrize("timestamp", ["", "soon", "-5", "²", "9" * 400])
async def test_a_wecom_callback_without_a_numeric_timestamp_is_refused(sb: Sandbox, timestamp: str):
    assert sb.http is not None
    query, body = sb.desk.signed(sb.desk.text_xml("lixiaoli", "上线", 3), timestamp=timestamp or None)
    query["timestamp"] = timestamp  # signed over this value where it is one; absent where empty
    async with sb.http.post(sb.desk.url, params={k: v for k, v in query.items() if v}, data=body) as r:
        assert 400 <= r.status < 500
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == []


async def test_an_hour_old_kf_callback_is_refused_and_nothing_is_pulled(sb: KfSandbox, warnings: list[str]):
    assert sb.http is not None
    kf, pusher = sb.kf, sb.kf_pusher()
    kf.customer_writes("wm_zhang", "一小时前的回调")
    status, _ = await pusher.notify(sb.http, kf.sync_token(), timestamp=_hour_ago())
    assert status == 403
    await sb.settle()
    assert kf.sent(SYNC) == [], "a stale callback makes kefu pull nothing"
    assert any("timestamp" in w and "from now" in w for w in warnings), warnings

    assert await pusher.notify(sb.http, kf.sync_token()) == (200, "")
    await sb.settle()
    assert len(kf.sent(SYNC)) == 1


@pytest.mark.parametrize("timestamp", ["²", "9" * 400])
async def test_a_signed_wechat_callback_with_an_odd_timestamp_is_refused(sb: Sandbox, timestamp: str):
    assert sb.http is not None
    status, _ = await sb.customer.post(sb.http, sb.customer.text_xml("o_li", "hi", 5), timestamp=timestamp)
    assert status == 403
