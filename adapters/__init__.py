"""Platform adapters: one package per platform, each registering a bot.adapter.Platform (pyproject.toml)."""
