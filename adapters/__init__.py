"""Platform adapters: one package per platform, found by ``bot.adapter.load_adapter_class``."""
