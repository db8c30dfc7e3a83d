"""QQ through the official QQ Bot API: a webhook with Ed25519 signatures, passive replies only."""
