"""Course text → retrieval chunks: heading-aware, token-bounded, overlapping, deterministic.

A chunk never crosses a topic or a `###` sub-section, carries its heading path ("Module › Topic
› Sub-section") as context, keeps a fenced code block whole whenever the block fits the budget,
and repeats the tail of the previous chunk of its sub-section (whole sentences, up to `overlap`
tokens) so an answer split across a boundary is still found.
`chunk_id` is `course/topic-key/ordinal`, so re-importing unchanged text yields the same ids and
hashes and nothing is re-embedded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from content.course_format import CourseSource

MAX_TOKENS = 120
OVERLAP_TOKENS = 30
MIN_TAIL_TOKENS = 40

# all-MiniLM-L6-v2 reads at most 256 word pieces. Counting words and punctuation undercounts
# word pieces by ~8% on course text, and long words split into several pieces, so long words
# count extra; MAX_TOKENS leaves headroom for the heading prepended at embedding time.
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(*\[])")


def count_tokens(text: str) -> int:
    return sum(1 + len(t) // 8 for t in _TOKEN.findall(text))


@dataclass(frozen=True)
class Block:
    text: str
    is_code: bool


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    topic_key: str
    module_no: int
    ordinal: int
    heading: str
    content: str
    token_count: int
    language: str = "en"

    @property
    def embed_text(self) -> str:
        """What the embedding model sees: the heading gives a short passage its subject."""
        return f"{self.heading}\n\n{self.content}"

    def content_hash(self, model: str) -> str:
        """Hash of exactly what was embedded, and by which model: a new model re-embeds all."""
        digest = hashlib.sha256()
        for part in (model, self.heading, self.content):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()


def split_blocks(body: str) -> list[Block]:
    """Paragraphs and fenced code blocks, in order; a code block keeps its fences."""
    blocks: list[Block] = []
    para: list[str] = []
    code: list[str] | None = None
    for line in body.splitlines():
        if code is not None:
            code.append(line)
            if line.lstrip().startswith("```"):
                blocks.append(Block("\n".join(code), True))
                code = None
            continue
        if line.lstrip().startswith("```"):
            if para:
                blocks.append(Block("\n".join(para).strip(), False))
                para = []
            code = [line]
        elif not line.strip():
            if para:
                blocks.append(Block("\n".join(para).strip(), False))
                para = []
        else:
            para.append(line)
    if code is not None:  # an unclosed fence: keep the text rather than lose it
        blocks.append(Block("\n".join(code), True))
    if para:
        blocks.append(Block("\n".join(para).strip(), False))
    return [b for b in blocks if b.text]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _pieces(block: Block, max_tokens: int) -> list[Block]:
    """A block that fits is one piece; otherwise prose splits by sentence, code by line."""
    if count_tokens(block.text) <= max_tokens:
        return [block]
    if block.is_code:
        lines = block.text.splitlines()
        fence_open, fence_close = lines[0], lines[-1]
        out: list[Block] = []
        current: list[str] = []
        for line in lines[1:-1]:
            trial = "\n".join([fence_open, *current, line, fence_close])
            if current and count_tokens(trial) > max_tokens:
                out.append(Block("\n".join([fence_open, *current, fence_close]), True))
                current = []
            current.append(line)
        out.append(Block("\n".join([fence_open, *current, fence_close]), True))
        return out
    out = []
    for sentence in split_sentences(block.text):
        if count_tokens(sentence) <= max_tokens:
            out.append(Block(sentence, False))
            continue
        words = sentence.split()
        current_words: list[str] = []
        for word in words:
            if current_words and count_tokens(" ".join([*current_words, word])) > max_tokens:
                out.append(Block(" ".join(current_words), False))
                current_words = []
            current_words.append(word)
        if current_words:
            out.append(Block(" ".join(current_words), False))
    return out


def _overlap_tail(blocks: list[Block], overlap: int) -> list[Block]:
    """Whole trailing sentences of the previous chunk's prose, up to `overlap` tokens."""
    if overlap <= 0 or not blocks or blocks[-1].is_code:
        return []
    tail: list[str] = []
    used = 0
    for sentence in reversed(split_sentences(blocks[-1].text)):
        cost = count_tokens(sentence)
        if used + cost > overlap:
            break
        tail.insert(0, sentence)
        used += cost
    return [Block(" ".join(tail), False)] if tail else []


def _join(blocks: Iterable[Block]) -> str:
    return "\n\n".join(b.text for b in blocks)


def split_subsections(body: str) -> list[tuple[str | None, str]]:
    """A topic body's (sub-section heading, text) parts in order; the text before the first
    `### ` line has heading None. A `###` inside a code fence is code, not a heading."""
    parts: list[tuple[str | None, list[str]]] = [(None, [])]
    in_code = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("### "):
            parts.append((line[4:].strip(), []))
        else:
            parts[-1][1].append(line)
    out = [(h, "\n".join(lines).strip()) for h, lines in parts]
    return [(h, text) for h, text in out if text or h]


def _group(pieces: list[Block], max_tokens: int, overlap: int) -> list[list[Block]]:
    groups: list[list[Block]] = []
    current: list[Block] = []
    fresh = 0  # pieces in `current` that are not overlap
    for piece in pieces:
        if current and fresh and count_tokens(_join([*current, piece])) > max_tokens:
            groups.append(current)
            current = _overlap_tail(current, overlap)
            fresh = 0
            if current and count_tokens(_join([*current, piece])) > max_tokens:
                current = []
        current.append(piece)
        fresh += 1
    if fresh:
        tail = current[-fresh:]
        # A lone closing line ("Try it: ...") retrieves badly on its own; the model's hard
        # limit leaves room to fold it into the previous chunk instead.
        if groups and count_tokens(_join(tail)) < MIN_TAIL_TOKENS \
                and count_tokens(_join([*groups[-1], *tail])) <= max_tokens + MIN_TAIL_TOKENS:
            groups[-1] = [*groups[-1], *tail]
        else:
            groups.append(current)
    return groups


def chunk_topic(
    course_slug: str,
    topic_key: str,
    module_no: int,
    module_title: str,
    topic_title: str,
    body: str,
    *,
    max_tokens: int = MAX_TOKENS,
    overlap: int = OVERLAP_TOKENS,
    language: str = "en",
    translated: bool = False,
) -> list[Chunk]:
    """`translated`: a version in another language than the course's default, whose ids get
    an `@language` suffix (the default language's ids stay as they were, so adding a language
    re-embeds nothing)."""
    suffix = f"@{language}" if translated else ""
    topic_heading = f"{module_title} › {topic_title}" if module_title else topic_title
    sections: list[tuple[str, list[list[Block]]]] = []
    for sub, text in split_subsections(body):
        heading = f"{topic_heading} › {sub}" if sub else topic_heading
        pieces = [p for b in split_blocks(text) for p in _pieces(b, max_tokens)]
        if not pieces:  # a heading with no text of its own still gets found by its title
            pieces = [Block(sub or topic_title, False)]
        sections.append((heading, _group(pieces, max_tokens, overlap)))
    chunks = []
    for heading, groups in sections:
        for group in groups:
            content = _join(group)
            ordinal = len(chunks)
            chunks.append(Chunk(
                chunk_id=f"{course_slug}/{topic_key}/{ordinal}{suffix}",
                topic_key=topic_key,
                module_no=module_no,
                ordinal=ordinal,
                heading=heading,
                content=content,
                token_count=count_tokens(content),
                language=language,
            ))
    return chunks


def chunk_course(src: CourseSource, **kw: int) -> list[Chunk]:
    """Every topic of a parsed course, in course order, in every language it is written in."""
    out: list[Chunk] = []
    for module in src.modules:
        for topic in module.topics:
            out.extend(chunk_topic(src.slug, topic.key, module.number, module.title,
                                   topic.title, topic.body, language=src.default_language,
                                   **kw))
        for lang, tr in module.translations.items():
            if tr.topics is None or tr.title is None:
                continue
            for (title, body), topic in zip(tr.topics, module.topics, strict=True):
                out.extend(chunk_topic(src.slug, topic.key, module.number, tr.title, title,
                                       body, language=lang, translated=True, **kw))
    return out
