"""Baseline (a), the practical ceiling: a bare aiohttp handler that only decrypts and parses the
WeChat callback with wechatpy and answers "success". No dedupe, no queue, no storage. It runs on
the loop kefu runs on (uvloop where it installs), so it is the ceiling of the same stack.

    python bench/bare_server.py PORT TOKEN ENCODING_AES_KEY APP_ID
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_app(token: str, aes_key: str, app_id: str) -> web.Application:
    crypto = WeChatCrypto(token, aes_key, app_id)

    async def callback(request: web.Request) -> web.Response:
        q = request.query
        body = await request.read()
        plain = crypto.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
        parse_message(plain)
        return web.Response(text="success")

    app = web.Application()
    app.router.add_post("/wechat/mp", callback)
    return app


def main() -> None:
    port, token, aes_key, app_id = sys.argv[1:5]
    app = make_app(token, aes_key, app_id)
    try:
        import uvloop

        uvloop.install()  # kefu's loop (bot/cli.py)
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=int(port), access_log=None, print=None)


if __name__ == "__main__":
    main()
