"""Console passwords: scrypt from the standard library, compared in constant time; and
`kefu hash-password`, which prints what `console.users[].password_hash` takes."""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import os
import sys

from bot.registry import Command

__all__ = ["hash_password", "verify_password", "check", "COMMAND"]

# scrypt's cost: 16 MiB of memory and about 50 ms a try here, what OWASP suggests as a minimum
N, R, P = 2**14, 8, 1
_DUMMY = None  # a hash to spend the same time on for an unknown user


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = _scrypt(password, salt, N, R, P)
    return f"scrypt${N}${R}${P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def check(password: str, plain: str, hashed: str) -> bool:
    """The user's password against the configured one (as given, or its hash). Every check costs
    one scrypt, so timing tells neither which names exist nor how their password is kept."""
    global _DUMMY
    if hashed:
        return verify_password(password, hashed)
    _DUMMY = _DUMMY or hash_password(os.urandom(8).hex())
    verify_password(password, _DUMMY)
    return bool(plain) and hmac.compare_digest(password.encode(), plain.encode())


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stdin", action="store_true", help="read the password from standard input (one line)")


async def _run(args: argparse.Namespace) -> int:
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码 (password): ")
        if getpass.getpass("再输一次 (again): ") != password:
            print("kefu hash-password: the two passwords differ", file=sys.stderr)
            return 2
    if len(password) < 8:
        print("kefu hash-password: use at least 8 characters", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


COMMAND = Command("hash-password", "print a console user's password_hash (scrypt)", _arguments, _run)
