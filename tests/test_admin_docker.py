"""The Docker image: the SQLite database outlives its container, and the health check asks the port
kefu listens on (the one its config file sets), and the README shows a run a new admin can copy."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_data_is_a_volume_declared_after_it_is_given_to_the_kefu_user():
    lines = instructions()
    volume = [i for i, line in enumerate(lines) if re.fullmatch(r'VOLUME \[?"?/data"?\]?', line)]
    chown = [i for i, line in enumerate(lines) if line.startswith("RUN") and "chown kefu /data" in line]
    # what a RUN does to /data after VOLUME is thrown away, so the ownership must come first
    assert volume and chown and chown[0] < volume[0]


def test_the_health_check_asks_kefu_health_with_the_config_the_container_runs():
    lines = instructions()
    check = next(line for line in lines if line.startswith("HEALTHCHECK"))
    cmd = next(line for line in lines if line.startswith("CMD"))
    assert "KEFU_PORT" not in check
    assert re.search(r'"kefu",\s*"health",\s*"--config",\s*"/data/kefu.yaml"', check), check
    assert '"--config", "/data/kefu.yaml"' in cmd


def test_the_readme_runs_the_image_with_a_readable_config_and_a_volume_for_data():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "chmod 644 kefu.yaml" in readme
    assert "-v $PWD/kefu.yaml:/data/kefu.yaml:ro" in readme
    assert re.search(r"-v [a-z][\w-]*:/data ", readme)  # a named volume keeps kefu.db across `docker rm`


def test_the_image_holds_every_package_kefu_installs():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {line.split()[1] for line in instructions() if line.startswith("COPY ")}
    assert [p for p in packages if p not in copied] == [], "pip install . in the image would leave these out"
