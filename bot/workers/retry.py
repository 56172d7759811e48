"""How long to wait before retrying a send that failed on the network or a 5xx."""

from __future__ import annotations

from datetime import timedelta


def backoff(attempt: int, base: float = 5.0, cap: float = 900.0) -> timedelta:
    """Exponential: 5 s, 10 s, 20 s … capped at 15 minutes."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))
