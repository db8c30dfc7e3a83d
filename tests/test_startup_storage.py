"""Storage that cannot be opened at start-up: one line naming the database and the fix, exit 2,
for `kefu run` and for the commands that read storage (`kefu report`, `kefu deadletters`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import need_server

ROOT = Path(__file__).parent.parent
COMMANDS = [["run"], ["report", "--daily", "2026-11-24"], ["deadletters"]]


def write_config(folder: Path, storage: str) -> Path:
    """A complete file with real-looking values (no placeholder warnings to muddle stderr)."""
    raw = {
        "server": {"port": 0},
        "storage": storage,
        "accounts": [
            {
                "name": "mp",
                "platform": "wechat",
                "role": "customer",
                "app_id": "wx5c1e7d9a3b2f4e60",
                "app_secret": "4f1d2c3b5a6978e0d1c2b3a4f5e6d7c8",
                "token": "kefu2026",
            },
            {
                "name": "desk",
                "platform": "wecom",
                "role": "desk",
                "corp_id": "ww8d2e4f6a1b3c5d70",
                "agent_id": 1000002,
                "secret": "Q2w3E4r5T6y7U8i9O0pLkJhGfDsA",
                "token": "kefu2026",
                "encoding_aes_key": "Kq3ZbT8vW1xY4nR7mP0sL5dF2gH9jC6aE3uI8oN1tB4",
            },
        ],
    }
    path = folder / "kefu.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    path.chmod(0o644)
    return path


def kefu(config: Path, command: list[str], prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [*(prefix or []), sys.executable, "-m", "bot.cli", *command, "--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_sqlite_directory_is_named_in_one_line(tmp_path, command):
    r = kefu(write_config(tmp_path, "sqlite:////nonexistent/dir/kefu.db"), command)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        "kefu: cannot open the SQLite database /nonexistent/dir/kefu.db: its directory does not exist "
        "(create it, or set storage: to a writable path)"
    ]


def test_an_unwritable_sqlite_directory_is_named_in_one_line(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: drop that privilege, as a container's user has none
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to drop root's override of permissions")
        prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    r = kefu(write_config(tmp_path, f"sqlite:///{folder}/kefu.db"), ["run"], prefix)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        f"kefu: cannot open the SQLite database {folder}/kefu.db: the user kefu runs as (uid {os.geteuid()}) "
        f"cannot write to {folder} (give it write access, or set storage: to a writable path)"
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_postgres_database_is_named_with_the_createdb_command(tmp_path, command):
    need_server("PostgreSQL", 5432)
    url = "postgresql://postgres:pw-never-shown@127.0.0.1:5432/kefu_missing_xyz"
    r = kefu(write_config(tmp_path, url), command)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        'kefu: PostgreSQL database "kefu_missing_xyz" does not exist on 127.0.0.1:5432 '
        "(create it: createdb -h 127.0.0.1 -U postgres kefu_missing_xyz)"
    ]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unreachable_postgres_server_is_named_in_one_line(tmp_path, command):
    port = closed_port()
    r = kefu(write_config(tmp_path, f"postgresql://kefu:pw-never-shown@127.0.0.1:{port}/kefu"), command)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        f"kefu: cannot reach PostgreSQL at 127.0.0.1:{port}: connection refused "
        "(start it, or correct the host and port in storage:)"
    ]
