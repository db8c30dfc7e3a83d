"""kefu core: the normalized model, bus, storage, handler chain, server and CLI.

The core speaks no platform: it never imports ``adapters``; adapters are found by name
through :mod:`bot.plugins`.
"""
