"""Course Markdown → Telegram HTML, in blocks that can be packed into messages.

Telegram's HTML mode knows <b>, <i>, <code>, <pre>; anything else is escaped. Packing works on
whole blocks so a message never ends inside a tag; a single oversized code block is split into
several <pre> blocks.
"""

from __future__ import annotations

import html
import re

_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])")
_HEADING = re.compile(r"^#{3,6}\s+(.*)$")


def _inline(text: str) -> str:
    out: list[str] = []
    last = 0
    for m in _INLINE_CODE.finditer(text):
        out.append(_emphasis(html.escape(text[last:m.start()])))
        out.append(f"<code>{html.escape(m[1])}</code>")
        last = m.end()
    out.append(_emphasis(html.escape(text[last:])))
    return "".join(out)


def _emphasis(escaped: str) -> str:
    escaped = _BOLD.sub(r"<b>\1</b>", escaped)
    return _ITALIC.sub(r"<i>\1</i>", escaped)


def to_blocks(markdown: str, limit: int = 4000) -> list[str]:
    blocks: list[str] = []
    para: list[str] = []
    lines = markdown.splitlines()
    i = 0

    def flush() -> None:
        if para:
            text = "\n".join(para)
            heading = _HEADING.match(text)
            blocks.append(f"<b>{_inline(heading[1])}</b>" if heading else _inline(text))
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            flush()
            lang = line.strip()[3:].strip()
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith("```"):
                code.append(lines[i])
                i += 1
            i += 1
            blocks.extend(_pre_blocks("\n".join(code), lang, limit))
            continue
        if not line.strip():
            flush()
        else:
            para.append(line)
        i += 1
    flush()
    return blocks


def _pre_blocks(code: str, lang: str, limit: int) -> list[str]:
    attr = f' class="language-{html.escape(lang)}"' if re.fullmatch(r"[\w+-]+", lang) else ""
    wrap = len(f"<pre><code{attr}></code></pre>")
    chunks: list[str] = []
    current = ""
    for line in code.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(html.escape(candidate)) + wrap > limit and current:
            chunks.append(current)
            current = line
        else:
            current = candidate
    chunks.append(current)
    return [f"<pre><code{attr}>{html.escape(c)}</code></pre>" for c in chunks]


def pack(blocks: list[str], limit: int = 4096) -> list[str]:
    """Join blocks with blank lines into as few messages as fit under `limit`."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        # A paragraph too long on its own is cut at spaces, as plain text.
        block_parts = _cut_plain(block, limit) if len(block) > limit else [block]
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


def _cut_plain(block: str, limit: int) -> list[str]:
    text = html.unescape(re.sub(r"<[^>]+>", "", block))
    parts: list[str] = []
    while text:
        piece = text[: limit // 2]
        if len(text) > len(piece):
            cut = piece.rfind(" ")
            piece = piece[:cut] if cut > limit // 4 else piece
        parts.append(html.escape(piece))
        text = text[len(piece):].lstrip()
    return parts
