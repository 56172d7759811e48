"""Rendering analytics as files: PNG charts for /stats (matplotlib, Agg) and the /export CSV.

Charts are drawn on a bare `Figure` with the Agg canvas — no pyplot global state — so they can
run in a worker thread (`asyncio.to_thread`) without blocking the event loop."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.i18n import gettext as _
from bot.i18n import ngettext
from storage.stats import CourseLine, ModuleStep

# A spreadsheet runs cells starting with these as formulas; learner names are user input.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def course_chart(title: str, funnel: Sequence[ModuleStep],
                 daily: Sequence[tuple[date, int]]) -> bytes:
    """Left: learners who started vs completed each module. Right: daily active learners."""
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    labels = [f"M{m.module_no}" for m in funnel]
    xs = range(len(funnel))
    left.bar([x - 0.2 for x in xs], [m.started for m in funnel], width=0.4, label=_("started"))
    left.bar([x + 0.2 for x in xs], [m.completed for m in funnel], width=0.4, label=_("completed"))
    left.set_xticks(list(xs), labels)
    left.set_title(_("Funnel by module"))
    left.set_ylabel(_("learners"))
    left.legend()
    left.yaxis.get_major_locator().set_params(integer=True)
    right.plot([d for d, _ in daily], [n for _, n in daily], marker="o", markersize=3)
    right.set_title(ngettext("Active learners per day (last {n} day)",
                              "Active learners per day (last {n} days)", len(daily)).format(
                                  n=len(daily)))
    right.yaxis.get_major_locator().set_params(integer=True)
    right.set_ylim(bottom=0)
    fig.autofmt_xdate()
    fig.suptitle(title)
    return _png(fig)


def overview_chart(lines: Sequence[CourseLine]) -> bytes:
    """Per course: enrolled, active in 7 and 30 days, completed."""
    fig = Figure(figsize=(max(6, 1.6 * len(lines) + 2), 4))
    ax = fig.subplots()
    series = [(_("enrolled"), [c.enrolled for c in lines]),
              (_("active 30 d"), [c.active_30d for c in lines]),
              (_("active 7 d"), [c.active_7d for c in lines]),
              (_("completed"), [c.completed for c in lines])]
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        ax.bar([x + (i - 1.5) * width for x in range(len(lines))], values, width=width,
               label=label)
    ax.set_xticks(list(range(len(lines))), [c.slug for c in lines])
    ax.set_ylabel(_("learners"))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    ax.set_title(_("All courses"))
    return _png(fig)


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def progress_csv(columns: Sequence[str], rows: Iterable[object]) -> bytes:
    """UTF-8 CSV with a BOM so spreadsheet programs pick the encoding."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])  # type: ignore[index]
    return out.getvalue().encode("utf-8-sig")
