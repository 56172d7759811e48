"""Convert chapters of PostgreSQL's HTML documentation into a learnbot course folder.

The evaluation corpus in tests/data/corpora/pg-tutorial/ was made with this script from Debian's
`postgresql-doc-15` package; the output is committed, so CI never needs the package:

    apt-get install -y postgresql-doc-15
    python bench/pgdocs_to_course.py /usr/share/doc/postgresql-doc-15/html \
        tests/data/corpora/pg-tutorial

Each HTML page becomes a topic (`## page title`), each `sect2`/`sect3` a sub-section
(`### title`). Section numbers are stripped; program listings become fenced code blocks.
Navigation, tables of contents, index anchors and footnotes are left out.
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

# (file name, module title, pages) in course order; intro pages (a few lines of links) left out
MODULES: list[tuple[str, str, list[str]]] = [
    ("01-getting-started", "Getting Started", [
        "tutorial-arch", "tutorial-createdb", "tutorial-accessdb"]),
    ("02-the-sql-language", "The SQL Language", [
        "tutorial-concepts", "tutorial-table", "tutorial-populate", "tutorial-select",
        "tutorial-join", "tutorial-agg", "tutorial-update", "tutorial-delete"]),
    ("03-advanced-features", "Advanced Features", [
        "tutorial-views", "tutorial-fk", "tutorial-transactions", "tutorial-window",
        "tutorial-inheritance"]),
    ("04-data-definition", "Data Definition", [
        "ddl-basics", "ddl-default", "ddl-generated-columns", "ddl-constraints",
        "ddl-system-columns", "ddl-alter", "ddl-schemas"]),
    ("05-data-manipulation", "Data Manipulation", [
        "dml-insert", "dml-update", "dml-delete", "dml-returning"]),
    ("06-queries", "Queries", [
        "queries-overview", "queries-table-expressions", "queries-select-lists",
        "queries-union", "queries-order", "queries-limit", "queries-values", "queries-with"]),
]

COURSE_TOML = """\
slug = "pg-tutorial"
title = "PostgreSQL: Tutorial, Data Definition and Queries"
description = "Chapters 2-3 and 5-7 of the PostgreSQL 15 documentation (PostgreSQL License), \
converted for retrieval evaluation."
"""

_NUMBER = re.compile(r"^\s*(?:[0-9]+\.)+[0-9]*\s*")
_BLOCKS = {"p", "li", "dt", "dd", "tr", "blockquote", "h1", "h2", "h3", "h4", "h5", "caption"}
_SKIP_CLASSES = {"navheader", "navfooter", "toc", "footnotes", "footnote", "indexterm"}
_ADMONITIONS = {"note": "Note", "tip": "Tip", "warning": "Warning", "caution": "Caution",
                "important": "Important"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []  # finished markdown blocks
        self.title = ""
        self._buf: list[str] = []
        # (tag, opened a skipped region, opened an admonition)
        self._stack: list[tuple[str, bool, bool]] = []
        self._admon = 0
        self._skip = 0
        self._pre = 0
        self._heading: str | None = None
        self._code = 0
        self._cells: list[str] | None = None

    # -- helpers ------------------------------------------------------------------------------
    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        self._buf = []
        if text:
            self.out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = set((dict(attrs).get("class") or "").split())
        # an admonition's own "Note"/"Tip" title is replaced by the label prefix below
        skip = bool(cls & _SKIP_CLASSES) or tag in ("head", "script", "style", "sup") \
            or (tag in ("h3", "h4") and self._admon > 0)
        if tag in ("br", "hr", "img", "meta", "link"):
            return
        admon = tag == "div" and bool(cls & set(_ADMONITIONS))
        self._admon += admon
        self._stack.append((tag, skip, admon))
        if skip:
            self._skip += 1
        if self._skip:
            return
        if tag == "pre":
            self._flush()
            self._pre += 1
            return
        if self._pre:
            return
        if tag in ("h2", "h3", "h4"):
            self._flush()
            self._heading = tag
            return
        if tag == "div" and cls & set(_ADMONITIONS):
            self._flush()
            label = _ADMONITIONS[next(iter(cls & set(_ADMONITIONS)))]
            self._buf.append(f"{label}: ")
            return
        if tag == "tr":
            self._flush()
            self._cells = []
            return
        if tag in ("td", "th") and self._cells is not None:
            self._buf = []
            return
        if tag in _BLOCKS:
            # an admonition's label stays with the paragraph that follows it
            if not (self._buf and "".join(self._buf).strip().endswith(":")
                    and "".join(self._buf).strip()[:-1] in _ADMONITIONS.values()):
                self._flush()
            if tag == "li":
                self._buf.append("- ")
            return
        if tag == "code" and not self._heading:
            self._code += 1
            if self._code == 1:
                self._buf.append("`")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # `<a class="indexterm"/>`, `<br/>`: nothing to keep, nothing to close

    def handle_endtag(self, tag: str) -> None:
        if tag not in (t for t, _, _ in self._stack):
            return
        # tolerate unclosed inner tags: pop to the matching one
        closed_skip = False
        while self._stack:
            open_tag, skip, admon = self._stack.pop()
            self._admon -= admon
            if skip:
                self._skip -= 1
                closed_skip = True
            if open_tag == tag:
                break
        if closed_skip or self._skip:
            return
        if tag == "pre":
            text = "".join(self._buf).strip("\n")
            self._buf = []
            self._pre -= 1
            lines = [ln.rstrip() for ln in text.splitlines()]
            while lines and not lines[0].strip():
                lines.pop(0)
            if lines:
                # unindent: the HTML keeps the listing's source indentation
                indent = min(len(ln) - len(ln.lstrip()) for ln in lines if ln.strip())
                body = "\n".join(ln[indent:] for ln in lines)
                self.out.append(f"```sql\n{body}\n```")
            return
        if self._pre:
            return
        if tag in ("h2", "h3", "h4") and self._heading == tag:
            text = _NUMBER.sub("", " ".join("".join(self._buf).split()))
            self._buf = []
            self._heading = None
            if tag == "h2" and not self.title:
                self.title = text
            elif tag in ("h3", "h4") and text:
                self.out.append(f"### {text}")
            return
        if tag in ("td", "th") and self._cells is not None:
            self._cells.append(" ".join("".join(self._buf).split()))
            self._buf = []
            return
        if tag == "tr" and self._cells is not None:
            cells = [c for c in self._cells if c]
            self._cells = None
            if cells:
                self.out.append(" | ".join(cells))
            return
        if tag == "code" and self._code:
            self._code -= 1
            if self._code == 0:
                self._buf.append("`")
            return
        if tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _clean(block: str) -> str:
    block = block.replace("``", "")
    block = re.sub(r"\s+`(?=[,.;:)])", "`", block)
    # a line that starts like a heading or a fence would change the course's structure
    if re.match(r"^(#{1,2} |```)", block) and not block.startswith("```sql"):
        block = "\\" + block
    return block


def convert_page(path: Path) -> tuple[str, str]:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    blocks: list[str] = []
    for block in page.out:
        if block.startswith("```"):
            blocks.append(block)
            continue
        block = _clean(block)
        if block.startswith("### ") and blocks and blocks[-1].startswith("### "):
            blocks.pop()  # a sub-section with no text of its own before its first child
        blocks.append(block)
    while blocks and blocks[-1].startswith("### "):
        blocks.pop()
    return page.title, "\n\n".join(blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "course.toml").write_text(COURSE_TOML)
    titles: set[str] = set()
    for file_name, module_title, pages in MODULES:
        parts = [f"# {module_title}"]
        for name in pages:
            title, body = convert_page(args.html_dir / f"{name}.html")
            if title in titles:
                sys.exit(f"{name}: topic title {title!r} repeats")
            titles.add(title)
            parts.append(f"## {title}\n\n{body}")
        (args.out_dir / f"{file_name}.md").write_text("\n\n".join(parts) + "\n")
    size = sum(p.stat().st_size for p in args.out_dir.glob("*.md"))
    print(f"{len(titles)} topics, {size // 1024} KB in {args.out_dir}")


if __name__ == "__main__":
    main()
