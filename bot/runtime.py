"""Settings of the bot's own processes (`learnbot run`, `deliver`, `console`, `demo`), made
once at start; bench/updates.py makes them too, for learnbot and bare aiogram alike."""

from __future__ import annotations

import gc

# CPython collects generation 0 every 700 net allocations by default. Handling one update,
# aiogram and pydantic allocate thousands of short-lived objects (models, dicts, contexts),
# nearly all freed by reference counting, so most of those collections scan live objects for
# nothing: bench/updates.py measured /help at ~1200 upd/s by default, ~1500 with these.
# The defaults are (700, 10, 10); these also make the older generations' collections rarer
# (every 50 young ones, every 100 of those), so cyclic garbage that outlives generation 0 is
# freed later: more memory held between full collections, for a bot that allocates little
# long-lived data (its state is in PostgreSQL).
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
