"""Settings of the bot's own processes (`learnbot run`, `deliver`, `console`, `demo`), made
once at start; bench/updates.py makes them too, for learnbot and bare aiogram alike."""

from __future__ import annotations

import gc

# CPython collects generation 0 every 700 net allocations by default. Handling one update,
# aiogram and pydantic allocate thousands of short-lived objects (models, dicts, contexts),
# nearly all freed by reference counting, so most of those collections scan live objects for
# nothing: bench/updates.py measured /help at ~1200 upd/s by default, ~1500 with these. A
# young generation of 50,000 objects is a few MB at most before it is collected; the older
# generations keep their default ratios relative to it.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
