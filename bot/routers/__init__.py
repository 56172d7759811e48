"""One router per feature; `bot.app` composes them in order (fallback last)."""
