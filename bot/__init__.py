"""kefu core: the normalized model, bus, storage, handler chain, server and CLI.

The core speaks no platform: it never imports ``adapters`` or ``handlers``; they register
through entry points (pyproject.toml) that :mod:`bot.registry` loads.
"""
