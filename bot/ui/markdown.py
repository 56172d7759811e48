"""Course Markdown → Telegram HTML, in blocks that can be packed into messages.

The Markdown is parsed by markdown-it-py (CommonMark plus tables and ~~strikethrough~~) and the
syntax tree is rendered to the subset of HTML Telegram's HTML parse mode accepts:

* headings become a bold line; **strong**, *emphasis* and ~~strike~~ become <b>, <i>, <s>;
* `inline code` becomes <code>, fenced and indented code blocks <pre><code class="language-x">;
* links become <a href> only for http(s)://host, tg: and mailto: targets — any other link
  (javascript:, relative paths, …) is rendered as its text; images render as a link to the
  image (or just their alt text);
* bullet and ordered lists become "• " / "1. " lines, nested lists indented;
* tables become a monospaced <pre> block; block quotes <blockquote>;
* raw HTML in the source is escaped like any other text, never passed through;
* "[1]: …" reference definitions are not recognised (answers cite passages as [1]), so such lines
  and [1] markers stay as written.

`to_blocks` returns one string per top-level block (a paragraph, a list, a code block, …);
`pack` joins blocks with blank lines into messages of at most `limit` characters. A block too long
for one message is split at a paragraph, line or word boundary; tags open at the cut are closed at
the end of one part and reopened at the start of the next, so every part is balanced HTML. A single
oversized code block is split into several <pre> blocks at line boundaries.
"""

from __future__ import annotations

import functools
import html
import re
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_LANG = re.compile(r"[\w+-]+")
_INDENT = "   "  # per nesting level of a list
_HR = "———"
_SAFE_SCHEMES = {"http", "https", "tg", "mailto"}
_FORMAT_TAGS = {"strong": "b", "em": "i", "s": "s"}


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    # No "[1]: …" reference definitions: answers cite passages as [1], and a line starting with
    # "[1]:" must stay visible rather than vanish into a definition.
    md.disable("reference")
    # Every link becomes a link token; `_safe_href` decides which ones keep their target.
    md.validateLink = lambda url: True
    return md


_MD = _parser()


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _safe_href(href: str) -> str | None:
    href = href.strip()
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _SAFE_SCHEMES:
        return None
    if scheme in ("http", "https") and not parts.netloc:
        return None
    if scheme in ("tg", "mailto") and len(href) <= len(scheme) + 1:
        return None
    return href


class _Inline:
    """Renders the children of an `inline` node. Formatting tags are counted so that, e.g., strong
    text inside a (bold) heading doesn't open a second <b>; a link's text is never another link
    nor <code> (Telegram doesn't nest those)."""

    def __init__(self, *, bold: bool = False) -> None:
        self.depth = {"b": int(bold), "i": 0, "s": 0}
        self.in_link = False

    def render(self, nodes: list[SyntaxTreeNode]) -> str:
        return "".join(self._node(n) for n in nodes)

    def _node(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind in ("text", "html_inline"):
            return _esc(node.content)
        if kind in ("softbreak", "hardbreak"):
            return "\n"
        if kind == "code_inline":
            return _esc(node.content) if self.in_link else f"<code>{_esc(node.content)}</code>"
        if kind in _FORMAT_TAGS:
            tag = _FORMAT_TAGS[kind]
            self.depth[tag] += 1
            inner = self.render(node.children)
            self.depth[tag] -= 1
            return inner if self.depth[tag] else f"<{tag}>{inner}</{tag}>"
        if kind == "link":
            return self._link(str(node.attrs.get("href", "")), node.children)
        if kind == "image":
            return self._link(str(node.attrs.get("src", "")), node.children, empty="image")
        if node.children:
            return self.render(node.children)
        return _esc(node.content)

    def _link(self, href: str, children: list[SyntaxTreeNode], empty: str = "") -> str:
        target = None if self.in_link else _safe_href(href)
        if target is None:
            return self.render(children) or _esc(empty)
        self.in_link = True
        try:
            text = self.render(children)
        finally:
            self.in_link = False
        if not _plain(children).strip():
            text = _esc(empty or target)
        return f'<a href="{html.escape(target, quote=True)}">{text}</a>'


def _plain(nodes: list[SyntaxTreeNode]) -> str:
    """The text of inline nodes without any formatting (for table cells and link checks)."""
    out: list[str] = []
    for node in nodes:
        if node.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif node.children:
            out.append(_plain(node.children))
        else:
            out.append(node.content)
    return "".join(out)


def _inline_of(node: SyntaxTreeNode, *, bold: bool = False) -> str:
    """Render the inline content of a paragraph/heading/cell node."""
    inlines = [c for c in node.children if c.type == "inline"]
    return "".join(_Inline(bold=bold).render(c.children) for c in inlines)


class _Blocks:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.quote_depth = 0

    def top(self, node: SyntaxTreeNode) -> list[str]:
        """One top-level node → blocks (an oversized code block → several)."""
        if node.type in ("fence", "code_block") and not self.quote_depth:
            code, lang = _code_of(node)
            return _pre_blocks(code, lang, self.limit)
        text = self.block(node, 0)
        return [text] if text.strip() else []

    def block(self, node: SyntaxTreeNode, depth: int) -> str:
        kind = node.type
        if kind == "paragraph":
            return _inline_of(node)
        if kind == "heading":
            inner = _inline_of(node, bold=True)
            return f"<b>{inner}</b>" if inner.strip() else ""
        if kind in ("fence", "code_block"):
            code, lang = _code_of(node)
            if self.quote_depth:  # no <pre> inside <blockquote>
                return f"<code>{_esc(code)}</code>" if code.strip() else ""
            return _pre_blocks(code, lang, 10**9)[0]
        if kind in ("bullet_list", "ordered_list"):
            return self.list(node, depth)
        if kind == "blockquote":
            self.quote_depth += 1
            try:
                inner = self.children(node, depth)
            finally:
                self.quote_depth -= 1
            if self.quote_depth or not inner.strip():  # Telegram doesn't nest quotes
                return inner
            return f"<blockquote>{inner}</blockquote>"
        if kind == "table":
            return self.table(node)
        if kind == "hr":
            return _HR
        if kind == "html_block":
            return _esc(node.content.rstrip("\n"))
        if kind == "inline":
            return _Inline().render(node.children)
        if node.children:
            return self.children(node, depth)
        return _esc(node.content)

    def children(self, node: SyntaxTreeNode, depth: int) -> str:
        parts = [self.block(c, depth) for c in node.children]
        return "\n".join(p for p in parts if p.strip())

    def list(self, node: SyntaxTreeNode, depth: int) -> str:
        ordered = node.type == "ordered_list"
        number = int(node.attrs.get("start", 1)) if ordered else 1
        indent = _INDENT * depth
        lines: list[str] = []
        for item in node.children:
            marker = f"{number}. " if ordered else "• "
            number += 1
            cont = indent + " " * len(marker)
            first = True
            for child in item.children:
                if child.type in ("bullet_list", "ordered_list"):
                    nested = self.list(child, depth + 1)
                    if nested:
                        if first:  # an item that starts with a sub-list
                            lines.append(indent + marker.rstrip())
                            first = False
                        lines.append(nested)
                    continue
                text = self.block(child, depth + 1)
                if not text.strip():
                    continue
                if child.type not in ("fence", "code_block", "table"):
                    text = text.replace("\n", "\n" + cont)
                lines.append((indent + marker if first else cont) + text)
                first = False
            if first:  # an empty item
                lines.append(indent + marker.rstrip())
        return "\n".join(lines)

    def table(self, node: SyntaxTreeNode) -> str:
        rows: list[list[str]] = []
        aligns: list[str] = []
        header = 0
        for section in node.children:
            for tr in section.children:
                cells = []
                for i, cell in enumerate(tr.children):
                    inlines = [c for c in cell.children if c.type == "inline"]
                    cells.append(" ".join(_plain(c.children).strip() for c in inlines))
                    if len(aligns) <= i:
                        aligns.append(str(cell.attrs.get("style", "")))
                rows.append(cells)
            if section.type == "thead":
                header = len(rows)
        if not rows:
            return ""
        columns = max(len(r) for r in rows)
        rows = [r + [""] * (columns - len(r)) for r in rows]
        widths = [max(len(r[i]) for r in rows) for i in range(columns)]

        def line(cells: list[str]) -> str:
            out = []
            for i, cell in enumerate(cells):
                right = i < len(aligns) and "right" in aligns[i]
                out.append(cell.rjust(widths[i]) if right else cell.ljust(widths[i]))
            return " | ".join(out).rstrip()

        lines = [line(r) for r in rows]
        if 0 < header < len(rows):
            lines.insert(header, "-+-".join("-" * w for w in widths))
        text = "\n".join(lines)
        if self.quote_depth:
            return _esc(text)
        return f"<pre>{_esc(text)}</pre>"


def _code_of(node: SyntaxTreeNode) -> tuple[str, str]:
    code = node.content[:-1] if node.content.endswith("\n") else node.content
    info = node.info.strip().split()[0] if node.type == "fence" and node.info.strip() else ""
    return code, info


def to_blocks(markdown: str, limit: int = 4000) -> list[str]:
    """Markdown → Telegram-HTML blocks, one per paragraph, heading, list, table or code block.

    A code block longer than `limit` is split into several <pre> blocks at line boundaries.
    Pure, and a journey's body is rendered again on every /today: the last few hundred
    renderings are kept (parsing one takes milliseconds)."""
    return list(_blocks(markdown, limit))


@functools.lru_cache(maxsize=512)
def _blocks(markdown: str, limit: int) -> tuple[str, ...]:
    root = SyntaxTreeNode(_MD.parse(markdown))
    renderer = _Blocks(limit)
    blocks: list[str] = []
    for node in root.children:
        blocks.extend(renderer.top(node))
    return tuple(blocks)


def _pre_blocks(code: str, lang: str, limit: int) -> list[str]:
    attr = f' class="language-{html.escape(lang)}"' if _LANG.fullmatch(lang) else ""
    wrap = len(f"<pre><code{attr}></code></pre>")
    chunks: list[str] = []
    current = ""
    for line in code.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(_esc(candidate)) + wrap > limit and current:
            chunks.append(current)
            current = line
        else:
            current = candidate
    chunks.append(current)
    return [f"<pre><code{attr}>{_esc(c)}</code></pre>" for c in chunks]


def pack(blocks: list[str], limit: int = 4096) -> list[str]:
    """Join blocks with blank lines into as few messages as fit under `limit`."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        # A block too long on its own is split with its tags closed and reopened.
        block_parts = split_html(block, limit) if len(block) > limit else [block]
        for part in block_parts:
            candidate = f"{current}\n\n{part}" if current else part
            if len(candidate) > limit and current:
                messages.append(current)
                current = part
            else:
                current = candidate
    if current:
        messages.append(current)
    return messages


# --- splitting HTML without breaking tags -------------------------------------------------------

_ATOM = re.compile(r"<[^<>]*>|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});"
                   r"|[^<&]|[<&]")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][\w-]*)")
_EMPTY_PAIR = re.compile(r"<([A-Za-z][\w-]*)(?:\s[^<>]*)?></\1>")


def _closers(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def split_html(text: str, limit: int = 4096) -> list[str]:
    """Split Telegram HTML into parts of at most `limit` characters, each with balanced tags.

    Cuts go at a blank line, else a line break, else a space in the second half of a part, else
    anywhere between characters; never inside a tag or an entity like `&amp;`. Tags open at a cut
    are closed at the end of the part and reopened (same attributes) at the start of the next."""
    if len(text) <= limit:
        return [text]
    atoms = _ATOM.findall(text)
    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag) of the tags open at atoms[i]
    i = 0
    while i < len(atoms):
        head = "".join(tag for _, tag in stack)
        cur = list(stack)
        size = len(head)
        closing = len(_closers(cur))
        # best cut of each kind: (index after the cut, stack there); kinds: 2 "\n\n", 1 "\n", 0 " "
        cuts: dict[int, tuple[int, list[tuple[str, str]]]] = {}
        j = i
        while j < len(atoms):
            atom = atoms[j]
            nxt = cur
            if atom.startswith("<") and len(atom) > 1 and atom.endswith(">"):
                m = _TAG_NAME.match(atom)
                name = m[1].lower() if m else ""
                if atom.startswith("</"):
                    if cur and cur[-1][0] == name:
                        nxt = cur[:-1]
                elif not atom.endswith("/>"):
                    nxt = [*cur, (name, atom)]
            nxt_closing = closing if nxt is cur else len(_closers(nxt))
            if size + len(atom) + nxt_closing > limit and j > i:
                break
            cur, closing = nxt, nxt_closing
            size += len(atom)
            j += 1
            if size >= limit // 2:
                if atom == "\n":
                    kind = 2 if j - 2 >= i and atoms[j - 2] == "\n" else 1
                    cuts[kind] = (j, cur)
                elif atom == " ":
                    cuts[0] = (j, cur)
        if j == len(atoms):
            parts.append(head + "".join(atoms[i:]) + _closers(cur))
            break
        best = next((cuts[k] for k in (2, 1, 0) if k in cuts), (j, cur))
        end, at = best
        body = (head + "".join(atoms[i:end])).rstrip(" \n")
        parts.append(body + _closers(at))
        stack, i = at, end
        while i < len(atoms) and atoms[i] == "\n":
            i += 1
    cleaned = []
    for part in parts:
        previous = None
        while previous != part:
            previous, part = part, _EMPTY_PAIR.sub("", part)
        if part.strip():
            cleaned.append(part.strip("\n"))
    return cleaned
