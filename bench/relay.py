"""The bare relay, the ceiling of the same libraries: an aiohttp handler that decrypts and parses
the WeChat callback with wechatpy, inserts one row with aiosqlite, answers "success" and POSTs
the text to the WeCom emulator with aiohttp's client. No rules, no queue, no retries.

    python bench/relay.py PORT TOKEN ENCODING_AES_KEY APP_ID DB WECOM_BASE CORP_ID SECRET AGENT_ID
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import aiosqlite
from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto


async def make_app(argv: list[str]) -> web.Application:
    token, aes_key, app_id, db_path, base, corp_id, secret, agent_id = argv
    crypto = WeChatCrypto(token, aes_key, app_id)
    db = await aiosqlite.connect(db_path)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, customer TEXT, text TEXT)")
    http = aiohttp.ClientSession()
    async with http.get(f"{base}/cgi-bin/gettoken", params={"corpid": corp_id, "corpsecret": secret}) as r:
        send_url = f"{base}/cgi-bin/message/send?access_token={(await r.json())['access_token']}"
    tasks: set[asyncio.Task[None]] = set()

    async def relay(customer: str, text: str) -> None:
        body = {"touser": "lixiaoli", "msgtype": "text", "agentid": int(agent_id), "text": {"content": text}}
        async with http.post(send_url, json=body) as r:
            await r.read()

    async def callback(request: web.Request) -> web.Response:
        q = request.query
        plain = crypto.decrypt_message(await request.read(), q["msg_signature"], q["timestamp"], q["nonce"])
        msg = parse_message(plain)
        await db.execute("INSERT INTO messages (customer, text) VALUES (?, ?)", (msg.source, msg.content))
        await db.commit()
        task = asyncio.create_task(relay(msg.source, msg.content))  # after the ack, as kefu relays
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.Response(text="success")

    async def close(_: web.Application) -> None:
        await http.close()
        await db.close()  # else aiosqlite's thread keeps the process from exiting

    app = web.Application()
    app.router.add_post("/wechat/mp", callback)
    app.on_cleanup.append(close)
    return app


def main() -> None:
    port = int(sys.argv[1])
    try:
        import uvloop

        uvloop.install()  # kefu's loop (bot/cli.py)
    except ImportError:
        pass
    web.run_app(make_app(sys.argv[2:10]), host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
