"""Read a course folder (or .zip) from disk into plain dataclasses, reporting every problem.

No SQL here: this is the validation half of `learnbot import-course`; `storage.courses` writes
what it returns. The format is documented in README.md ("Course format").
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import stat
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DIFFICULTIES = ("easy", "medium", "hard")
PERSONAS = ("normal", "sports", "cooking", "adventure")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MODULE_FILE = re.compile(r"^(\d{1,3})[-_][A-Za-z0-9_-]+\.md$")
# A translation sits beside its original: 01-basics.fil.md, 01-basics.fil.toml.
TRANSLATED_FILE = re.compile(r"^(\d{1,3}[-_][A-Za-z0-9_-]+)\.([a-z]{2,3})\.(md|toml)$")
# The course's own title and description in another language: course.fil.toml.
COURSE_TRANSLATION = re.compile(r"^course\.([a-z]{2,3})\.toml$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
MAX_ZIP_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_ZIP_ENTRIES = 2000
COURSE_KEYS = {
    "slug", "title", "description", "prompt_quota", "pass_mark", "quiz_cooldown_minutes",
    "personas", "languages",
}
MODULE_KEYS = {"topics", "quiz", "cold_calls", "suggestions", "variants"}
# What a translated .toml may hold: the texts, never the structure (difficulty, keys,
# priorities and persona variants come from the original).
TRANSLATED_KEYS = {"quiz", "cold_calls", "suggestions"}
COURSE_TRANSLATED_KEYS = {"title", "description"}


def N_(message: str) -> str:
    """Marks a problem's message for the bot's catalogues (babel.cfg extracts content/ too).
    Nothing is translated here: the bot renders a problem in its admin's language, the CLI as
    written (English)."""
    return message


@dataclass(frozen=True)
class Problem:
    """One reason a course can't be imported, with file and line. `message` is a catalogue
    msgid (English, with named placeholders) and `params` fills them, so whoever shows the
    problem can translate it (`render`)."""

    file: str
    line: int | None
    message: str
    params: Mapping[str, object] = field(default_factory=dict)

    def render(self, translate: Callable[[str], str] | None = None) -> str:
        """"file:line: message", the message through `translate` (a gettext) when given; a
        translation whose placeholders don't fit falls back to the English."""
        text = self.message.format(**self.params)
        if translate is not None:
            with contextlib.suppress(KeyError, IndexError, ValueError):
                text = translate(self.message).format(**self.params)
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {text}"

    def __str__(self) -> str:
        return self.render()


class CourseError(Exception):
    """The course can't be imported; `problems` lists every reason with file and line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class TopicSource:
    key: str
    title: str
    body: str
    module_no: int
    number: int
    line: int
    difficulty: str = "easy"
    priority: int = 0


@dataclass
class QuizQuestionSource:
    prompt: str
    explanation: str
    options: list[tuple[str, bool]]


@dataclass
class SuggestionSource:
    topic_key: str
    text: str
    follow_ups: list[str]


@dataclass
class ModuleTranslation:
    """One module's texts in one language, aligned item by item with the original; a list
    that is None was not translated (the original's texts are shown)."""

    language: str
    title: str | None = None
    topics: list[tuple[str, str]] | None = None  # (title, body) per original topic
    quiz: list[QuizQuestionSource] | None = None
    cold_calls: list[str] | None = None  # prompts
    suggestions: list[tuple[str, list[str]]] | None = None  # (text, follow-ups)


@dataclass
class ModuleSource:
    number: int
    title: str
    topics: list[TopicSource] = field(default_factory=list)
    quiz: list[QuizQuestionSource] = field(default_factory=list)
    cold_calls: list[tuple[str, str]] = field(default_factory=list)
    suggestions: list[SuggestionSource] = field(default_factory=list)
    variants: list[tuple[str, str, str]] = field(default_factory=list)
    file: str = ""
    translations: dict[str, ModuleTranslation] = field(default_factory=dict)


@dataclass
class CourseTranslation:
    """course.<lang>.toml: the course's title and description in one language; None where it
    gives none (the default language's is shown)."""

    language: str
    title: str | None = None
    description: str | None = None


@dataclass
class CourseSource:
    slug: str
    title: str
    description: str
    prompt_quota: int
    pass_mark: int
    quiz_cooldown_minutes: int
    personas: list[str]
    modules: list[ModuleSource]
    source_hash: str
    languages: list[str] = field(default_factory=lambda: ["en"])  # the first is the default
    translations: dict[str, CourseTranslation] = field(default_factory=dict)

    @property
    def default_language(self) -> str:
        return self.languages[0]

    @property
    def topics(self) -> list[TopicSource]:
        return [t for m in self.modules for t in m.topics]


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80] or "topic"


def _toml_line(exc: tomllib.TOMLDecodeError) -> int | None:
    match = re.search(r"line (\d+)", str(exc))
    return int(match[1]) if match else None


def _header_lines(text: str, name: str) -> list[int]:
    """Line numbers of each `[[name]]` header, so the i-th entry can be located."""
    pattern = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]")
    return [i for i, line in enumerate(text.splitlines(), 1) if pattern.match(line)]


def _read_text(path: Path, rel: str, problems: list[Problem]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(rel, None, N_("is not UTF-8 text")))
    except OSError as exc:
        problems.append(Problem(rel, None, N_("cannot be read: {error}"), {"error": exc.strerror}))
    return None


def _load_toml(path: Path, rel: str, problems: list[Problem]) -> tuple[dict, str] | None:
    text = _read_text(path, rel, problems)
    if text is None:
        return None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc).split(" (at ")[0]
        problems.append(Problem(rel, _toml_line(exc), N_("invalid TOML: {error}"),
                                {"error": msg}))
        return None


def _int_field(data: dict, key: str, default: int, lo: int, hi: int, rel: str,
               problems: list[Problem]) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        problems.append(Problem(rel, None, N_("'{key}' must be a whole number from {lo} to {hi}"),
                                {"key": key, "lo": lo, "hi": hi}))
        return default
    return value


def _parse_manifest(root: Path, problems: list[Problem]) -> dict | None:
    path = root / "course.toml"
    if not path.is_file():
        problems.append(Problem("course.toml", None,
                                N_("missing: every course needs a course.toml")))
        return None
    loaded = _load_toml(path, "course.toml", problems)
    if loaded is None:
        return None
    data, _ = loaded
    rel = "course.toml"
    for key in sorted(set(data) - COURSE_KEYS):
        problems.append(Problem(rel, None, N_("unknown key '{key}'"), {"key": key}))
    slug = data.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug):
        problems.append(Problem(rel, None, N_("'slug' must be lowercase letters, digits, - or _")))
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(Problem(rel, None, N_("'title' is required")))
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append(Problem(rel, None, N_("'description' must be text")))
        description = ""
    personas = data.get("personas", ["normal"])
    if not isinstance(personas, list) or not all(p in PERSONAS for p in personas):
        problems.append(Problem(rel, None, N_("'personas' must be a list drawn from {choices}"),
                                {"choices": ", ".join(PERSONAS)}))
        personas = ["normal"]
    if "normal" not in personas:
        personas = ["normal", *personas]
    languages = data.get("languages", ["en"])
    if not isinstance(languages, list) or not languages \
            or not all(isinstance(x, str) and LANGUAGE.match(x) for x in languages):
        problems.append(Problem(rel, None, N_("'languages' must list language tags such as "
                                              "[\"en\", \"fil\"], the default language first")))
        languages = ["en"]
    elif len(set(languages)) != len(languages):
        problems.append(Problem(rel, None, N_("'languages' lists a language twice")))
    return {
        "languages": list(dict.fromkeys(languages)),
        "slug": slug if isinstance(slug, str) else "",
        "title": title.strip() if isinstance(title, str) else "",
        "description": description.strip(),
        "prompt_quota": _int_field(data, "prompt_quota", 10, 0, 10_000, rel, problems),
        "pass_mark": _int_field(data, "pass_mark", 70, 0, 100, rel, problems),
        "quiz_cooldown_minutes": _int_field(
            data, "quiz_cooldown_minutes", 60, 0, 525_600, rel, problems
        ),
        "personas": list(dict.fromkeys(personas)),
    }


def _parse_markdown(path: Path, rel: str, number: int,
                    problems: list[Problem]) -> ModuleSource | None:
    text = _read_text(path, rel, problems)
    if text is None:
        return None
    lines = text.splitlines()
    title: str | None = None
    topics: list[TopicSource] = []
    current: tuple[str, int, list[str]] | None = None
    in_code = False

    def close() -> None:
        if current is None:
            return
        heading, line_no, body_lines = current
        body = "\n".join(body_lines).strip()
        if not body:
            problems.append(Problem(rel, line_no, N_("topic '{topic}' has no text"),
                                    {"topic": heading}))
        topics.append(TopicSource(slugify(heading), heading, body, number, len(topics) + 1,
                                  line_no))

    for i, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("# ") and title is None and current is None:
            title = line[2:].strip()
            if not title:
                problems.append(Problem(rel, i, N_("the module title after '# ' is empty")))
            continue
        if not in_code and line.startswith("## "):
            close()
            heading = line[3:].strip()
            if not heading:
                problems.append(Problem(rel, i, N_("a topic title after '## ' is empty")))
            current = (heading, i, [])
            continue
        if not in_code and line.startswith("# "):
            problems.append(Problem(rel, i, N_("only one '# Module title' line is allowed")))
            continue
        if current is not None:
            current[2].append(line)
        elif line.strip() and title is None:
            problems.append(Problem(rel, i, N_("the file must start with '# Module title'")))
            return None
    close()
    if in_code:
        problems.append(Problem(rel, len(lines), N_("a ``` code block is never closed")))
    if title is None:
        problems.append(Problem(rel, 1, N_("the file must start with '# Module title'")))
        return None
    if not topics:
        problems.append(Problem(rel, None, N_("no topics: add '## Topic title' sections")))
    seen: dict[str, int] = {}
    for topic in topics:
        if topic.title in seen:
            problems.append(Problem(rel, topic.line, N_("topic '{topic}' repeats line {line}"),
                                    {"topic": topic.title, "line": seen[topic.title]}))
        seen.setdefault(topic.title, topic.line)
    return ModuleSource(number, title, topics, file=rel)


def _option_texts(options: list, rel: str, line: int | None, problems: list[Problem]
                  ) -> list[tuple[str, bool]] | None:
    """A quiz question's options as (text, correct); None, with one problem, when one of them
    has no text. Shared by originals and translations."""
    parsed: list[tuple[str, bool]] = []
    for opt in options:
        if not isinstance(opt, dict) or not isinstance(opt.get("text"), str) \
                or not opt["text"].strip():
            problems.append(Problem(rel, line, N_("each option needs a 'text'")))
            return None
        parsed.append((opt["text"].strip(), bool(opt.get("correct", False))))
    return parsed


def _explanation(entry: dict) -> str:
    explanation = entry.get("explanation", "")
    return explanation.strip() if isinstance(explanation, str) else ""


def _parse_module_toml(path: Path, rel: str, module: ModuleSource, personas: list[str],
                       problems: list[Problem]) -> None:
    loaded = _load_toml(path, rel, problems)
    if loaded is None:
        return
    data, text = loaded
    for key in sorted(set(data) - MODULE_KEYS):
        problems.append(Problem(rel, None, N_("unknown key '{key}' (expected {expected})"),
                                {"key": key, "expected": ", ".join(sorted(MODULE_KEYS))}))
    by_title = {t.title: t for t in module.topics}

    def entries(name: str) -> list[tuple[dict, int | None]]:
        raw = data.get(name, [])
        if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
            problems.append(Problem(rel, None, N_("'{name}' must be written as [[{name}]] tables"),
                                    {"name": name}))
            return []
        lines = _header_lines(text, name)
        return [(e, lines[i] if i < len(lines) else None) for i, e in enumerate(raw)]

    def topic_of(entry: dict, line: int | None, field_name: str = "topic") -> TopicSource | None:
        title = entry.get(field_name)
        if not isinstance(title, str) or title not in by_title:
            if by_title:
                problems.append(Problem(
                    rel, line, N_("'{field}' = {value} is not a topic of this module ({topics})"),
                    {"field": field_name, "value": repr(title), "topics": ", ".join(by_title)}))
            else:
                problems.append(Problem(
                    rel, line,
                    N_("'{field}' = {value} is not a topic of this module (it has none)"),
                    {"field": field_name, "value": repr(title)}))
            return None
        return by_title[title]

    def text_of(entry: dict, key: str, line: int | None) -> str | None:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(rel, line, N_("'{key}' is required and must be text"),
                                    {"key": key}))
            return None
        return value.strip()

    for entry, line in entries("topics"):
        topic = topic_of(entry, line, "title")
        if topic is None:
            continue
        difficulty = entry.get("difficulty", "easy")
        if difficulty not in DIFFICULTIES:
            problems.append(Problem(rel, line, N_("'difficulty' must be one of {choices}"),
                                    {"choices": ", ".join(DIFFICULTIES)}))
        else:
            topic.difficulty = difficulty
        if "key" in entry:
            key = entry["key"]
            if not isinstance(key, str) or not SLUG.match(key):
                problems.append(Problem(rel, line,
                                        N_("'key' must be lowercase letters, digits, -")))
            else:
                topic.key = key
        if "priority" in entry:
            prio = entry["priority"]
            if not isinstance(prio, int) or isinstance(prio, bool) or prio < 1:
                problems.append(Problem(rel, line, N_("'priority' must be a whole number ≥ 1")))
            else:
                topic.priority = prio

    for entry, line in entries("quiz"):
        prompt = text_of(entry, "question", line)
        options = entry.get("options")
        if not isinstance(options, list) or not 2 <= len(options) <= 8:
            problems.append(Problem(rel, line, N_("'options' must list 2 to 8 answers")))
            continue
        parsed = _option_texts(options, rel, line, problems)
        if parsed is None:
            continue
        correct = sum(c for _, c in parsed)
        if correct != 1:
            problems.append(Problem(rel, line,
                                    N_("exactly one option must be correct (found {found})"),
                                    {"found": correct}))
        elif prompt is not None:
            module.quiz.append(QuizQuestionSource(prompt, _explanation(entry), parsed))

    for entry, line in entries("cold_calls"):
        topic = topic_of(entry, line)
        prompt = text_of(entry, "prompt", line)
        if topic and prompt:
            module.cold_calls.append((topic.key, prompt))

    for entry, line in entries("suggestions"):
        topic = topic_of(entry, line)
        text_ = text_of(entry, "text", line)
        follow = entry.get("follow_ups", [])
        if not isinstance(follow, list) or not all(isinstance(f, str) and f.strip()
                                                    for f in follow):
            problems.append(Problem(rel, line, N_("'follow_ups' must be a list of texts")))
            follow = []
        if topic and text_:
            module.suggestions.append(
                SuggestionSource(topic.key, text_, [f.strip() for f in follow]))

    for entry, line in entries("variants"):
        topic = topic_of(entry, line)
        persona = entry.get("persona")
        body = text_of(entry, "body", line)
        if persona not in personas or persona == "normal":
            problems.append(Problem(rel, line, N_("'persona' must be one of the course's "
                                                  "personas other than normal: {choices}"),
                                    {"choices": ", ".join(personas[1:])}))
            continue
        if topic and body:
            module.variants.append((topic.key, persona, body))


def _translation_language_ok(rel: str, language: str, languages: list[str], original: str,
                             problems: list[Problem]) -> bool:
    """A translation's language must be one course.toml declares, and not its default (whose
    text belongs in `original`)."""
    if language not in languages:
        problems.append(Problem(rel, None, N_("is in '{language}', which course.toml doesn't "
                                              "declare (languages = {languages})"),
                                {"language": language, "languages": languages}))
        return False
    if language == languages[0]:
        problems.append(Problem(rel, None, N_("'{language}' is the course's default "
                                              "language: its text belongs in {file}"),
                                {"language": language, "file": original}))
        return False
    return True


def _refuse_untranslatable(rel: str, data: dict, translatable: set[str], known: set[str],
                           problems: list[Problem], text: str | None = None) -> None:
    """Keys a translation may not hold: structure set in the original, or unknown ones (with
    the key's line when the file's text is given)."""
    allowed = ", ".join(sorted(translatable))
    for key in sorted(set(data) - translatable):
        message = (N_("key '{key}' can't be translated (set in the original); a translation "
                      "holds {allowed}") if key in known else
                   N_("key '{key}' can't be translated (unknown); a translation holds {allowed}"))
        problems.append(Problem(rel, _key_line(text, key) if text is not None else None,
                                message, {"key": key, "allowed": allowed}))


def _parse_translation(path: Path, stem: str, language: str, kind: str, languages: list[str],
                       by_file: dict[str, ModuleSource], problems: list[Problem]) -> None:
    """A translated .md or .toml: its language must be one the course declares (not the
    default), and its structure must match its original's item by item."""
    rel = path.name
    original = by_file.get(f"{stem}.md")
    if not _translation_language_ok(rel, language, languages, f"{stem}.{kind}", problems):
        return
    if original is None:
        if not (path.parent / f"{stem}.md").is_file():
            problems.append(Problem(rel, None, N_("has no original {file} to translate"),
                                    {"file": f"{stem}.md"}))
        return  # the original's own problems are reported already
    tr = original.translations.setdefault(language, ModuleTranslation(language))
    if kind == "md":
        _parse_translated_markdown(path, rel, original, tr, problems)
    else:
        _parse_translated_toml(path, rel, original, tr, problems)


def _code_blocks(body: str) -> int:
    return sum(1 for line in body.splitlines() if line.lstrip().startswith("```")) // 2


def _parse_translated_markdown(path: Path, rel: str, original: ModuleSource,
                               tr: ModuleTranslation, problems: list[Problem]) -> None:
    before = len(problems)
    parsed = _parse_markdown(path, rel, original.number, problems)
    if parsed is None or len(problems) > before:
        return
    ours, theirs = parsed.topics, original.topics
    for i, (mine, orig) in enumerate(zip(ours, theirs, strict=False), 1):
        # Titles are translated, so order is checked by what stays the same: the code.
        if _code_blocks(mine.body) != _code_blocks(orig.body):
            problems.append(Problem(
                rel, mine.line,
                N_("topic {n} '{topic}' has {blocks} code blocks where topic {n} of {original} "
                   "('{original_topic}', line {original_line}) has {original_blocks}: are the "
                   "topics in the same order?"),
                {"n": i, "topic": mine.title, "blocks": _code_blocks(mine.body),
                 "original": original.file, "original_topic": orig.title,
                 "original_line": orig.line, "original_blocks": _code_blocks(orig.body)}))
    if len(ours) < len(theirs):
        missing = theirs[len(ours)]
        last_line = ours[-1].line if ours else 1
        problems.append(Problem(
            rel, last_line,
            N_("has {count} topics where {original} has {expected}: no translation of "
               "'{topic}' ({original}:{line})"),
            {"count": len(ours), "original": original.file, "expected": len(theirs),
             "topic": missing.title, "line": missing.line}))
    elif len(ours) > len(theirs):
        extra = ours[len(theirs)]
        problems.append(Problem(
            rel, extra.line,
            N_("has {count} topics where {original} has {expected}: '{topic}' translates no "
               "topic of the original"),
            {"count": len(ours), "original": original.file, "expected": len(theirs),
             "topic": extra.title}))
    if len(problems) == before:
        tr.title = parsed.title
        tr.topics = [(t.title, t.body) for t in ours]


def _parse_translated_toml(path: Path, rel: str, original: ModuleSource,
                           tr: ModuleTranslation, problems: list[Problem]) -> None:
    loaded = _load_toml(path, rel, problems)
    if loaded is None:
        return
    data, text = loaded
    _refuse_untranslatable(rel, data, TRANSLATED_KEYS, MODULE_KEYS, problems)
    orig_file = original.file.removesuffix(".md") + ".toml"

    def entries(name: str, expected: int) -> list[tuple[dict, int | None]] | None:
        if name not in data:
            return None  # not translated: the original's texts are shown
        raw = data[name]
        if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
            problems.append(Problem(rel, None, N_("'{name}' must be written as [[{name}]] tables"),
                                    {"name": name}))
            return None
        lines = _header_lines(text, name)
        out = [(e, lines[i] if i < len(lines) else None) for i, e in enumerate(raw)]
        if len(out) != expected:
            # the first entry too many, or the last one there is when some are missing
            line = (lines[expected] if len(lines) > expected
                    else lines[-1] if lines else None)
            problems.append(Problem(rel, line, N_("has {count} [[{name}]] where {original} has "
                                                  "{expected}: translate each one, in order"),
                                    {"count": len(out), "name": name, "original": orig_file,
                                     "expected": expected}))
            return None
        return out

    def text_of(entry: dict, key: str, line: int | None) -> str | None:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(rel, line, N_("'{key}' is required and must be text"),
                                    {"key": key}))
            return None
        return value.strip()

    # A `topic` may name the translated title or the original one; either way it must be the
    # topic the original's entry at the same place names.
    titles = {t.title: t.key for t in original.topics}
    if tr.topics:
        titles.update({title: t.key for (title, _), t in zip(tr.topics, original.topics,
                                                              strict=True)})
    key_title = {t.key: t.title for t in original.topics}
    # A translated .md with problems of its own has no titles to check against: its problems
    # are reported, and repeating each of them here would only bury them.
    md_broken = path.with_suffix(".md").is_file() and tr.topics is None

    def same_topic(entry: dict, line: int | None, key: str) -> bool:
        if md_broken or titles.get(entry.get("topic")) == key:
            return True
        problems.append(Problem(rel, line, N_("'topic' = {value} should be the topic of the "
                                              "original's entry here: '{topic}'"),
                                {"value": repr(entry.get("topic")), "topic": key_title[key]}))
        return False

    found = entries("quiz", len(original.quiz))
    if found is not None:
        quiz: list[QuizQuestionSource] = []
        for i, ((entry, line), orig) in enumerate(zip(found, original.quiz, strict=True), 1):
            prompt = text_of(entry, "question", line)
            options = entry.get("options")
            if not isinstance(options, list) or len(options) != len(orig.options):
                n = len(options) if isinstance(options, list) else 0
                problems.append(Problem(rel, line, N_("question {n} has {count} options where "
                                                      "{original} has {expected}"),
                                        {"n": i, "count": n, "original": orig_file,
                                         "expected": len(orig.options)}))
                continue
            texts = _option_texts(options, rel, line, problems)
            if texts is None:
                continue
            want = [c for _, c in orig.options].index(True) + 1
            got = [j for j, (_, c) in enumerate(texts, 1) if c]
            if got != [want]:
                message = (N_("question {n}: the correct answer must be option {want}, as "
                              "in {original} (found {found})") if got else
                           N_("question {n}: the correct answer must be option {want}, as "
                              "in {original} (none is marked correct)"))
                problems.append(Problem(rel, line, message,
                                        {"n": i, "want": want, "original": orig_file,
                                         "found": ", ".join(map(str, got))}))
            elif prompt is not None:
                quiz.append(QuizQuestionSource(prompt, _explanation(entry), texts))
        if len(quiz) == len(original.quiz):
            tr.quiz = quiz

    found = entries("cold_calls", len(original.cold_calls))
    if found is not None:
        prompts = [p for (entry, line), (key, _) in zip(found, original.cold_calls, strict=True)
                   if same_topic(entry, line, key) and (p := text_of(entry, "prompt", line))]
        if len(prompts) == len(original.cold_calls):
            tr.cold_calls = prompts

    found = entries("suggestions", len(original.suggestions))
    if found is not None:
        out: list[tuple[str, list[str]]] = []
        for (entry, line), orig_s in zip(found, original.suggestions, strict=True):
            text_ = text_of(entry, "text", line)
            follow = entry.get("follow_ups", [])
            if not isinstance(follow, list) or not all(isinstance(f, str) and f.strip()
                                                        for f in follow):
                problems.append(Problem(rel, line, N_("'follow_ups' must be a list of texts")))
                continue
            if len(follow) != len(orig_s.follow_ups):
                problems.append(Problem(rel, line, N_("has {count} follow_ups where {original} "
                                                      "has {expected}"),
                                        {"count": len(follow), "original": orig_file,
                                         "expected": len(orig_s.follow_ups)}))
                continue
            if same_topic(entry, line, orig_s.topic_key) and text_:
                out.append((text_, [f.strip() for f in follow]))
        if len(out) == len(original.suggestions):
            tr.suggestions = out


def _hash_tree(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_course_dir(root: Path) -> CourseSource:
    """Parse and validate a course folder; raise `CourseError` listing every problem."""
    problems: list[Problem] = []
    if not root.is_dir():
        raise CourseError([Problem(str(root), None, N_("is not a folder or .zip file"))])
    manifest = _parse_manifest(root, problems)
    modules: list[ModuleSource] = []
    numbers: dict[int, str] = {}
    for path in sorted(root.glob("*.md")):
        if path.name.lower() == "readme.md" or TRANSLATED_FILE.match(path.name):
            continue
        match = MODULE_FILE.match(path.name)
        if not match:
            problems.append(Problem(path.name, None,
                                    N_("module files are named NN-name.md (e.g. 01-basics.md)")))
            continue
        number = int(match[1])
        if number in numbers:
            problems.append(Problem(path.name, None,
                                    N_("module number {number} is also used by {file}"),
                                    {"number": number, "file": numbers[number]}))
            continue
        numbers[number] = path.name
        module = _parse_markdown(path, path.name, number, problems)
        if module is None:
            continue
        side = path.with_suffix(".toml")
        if side.is_file():
            personas = manifest["personas"] if manifest else ["normal"]
            _parse_module_toml(side, side.name, module, personas, problems)
        modules.append(module)
    for path in sorted(root.glob("*.toml")):
        if path.name != "course.toml" and not TRANSLATED_FILE.match(path.name) \
                and not COURSE_TRANSLATION.match(path.name) \
                and not path.with_suffix(".md").is_file():
            problems.append(Problem(path.name, None, N_("has no matching module .md file")))
    languages = manifest["languages"] if manifest else ["en"]
    by_file = {m.file: m for m in modules}
    course_translations: dict[str, CourseTranslation] = {}
    for path in sorted(root.iterdir()):
        match = TRANSLATED_FILE.match(path.name)
        if match and path.is_file():
            _parse_translation(path, match[1], match[2], match[3], languages, by_file,
                               problems)
        match = COURSE_TRANSLATION.match(path.name)
        if match and path.is_file():
            tr = _parse_course_translation(path, match[1], languages, problems)
            if tr is not None:
                course_translations[tr.language] = tr
    if not numbers and not any(p.file.endswith(".md") for p in problems):
        problems.append(Problem(root.name, None, N_("no module files (NN-name.md) found")))
    expected = list(range(1, len(numbers) + 1))
    if numbers and sorted(numbers) != expected:
        problems.append(Problem(root.name, None,
                                N_("modules must be numbered 1..{count} without gaps "
                                   "(found {found})"),
                                {"count": len(numbers), "found": sorted(numbers)}))
    modules.sort(key=lambda m: m.number)
    _check_course_wide(modules, problems)
    if problems or manifest is None:
        raise CourseError(problems)
    return CourseSource(modules=modules, source_hash=_hash_tree(root),
                        translations=course_translations, **manifest)


def _key_line(text: str, key: str) -> int | None:
    """The line of a top-level `key = …`, so a problem with its value can point at it."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    return next((i for i, line in enumerate(text.splitlines(), 1) if pattern.match(line)), None)


def _parse_course_translation(path: Path, language: str, languages: list[str],
                              problems: list[Problem]) -> CourseTranslation | None:
    """course.<lang>.toml: `title` and/or `description` in a declared, non-default language."""
    rel = path.name
    if not _translation_language_ok(rel, language, languages, "course.toml", problems):
        return None
    loaded = _load_toml(path, rel, problems)
    if loaded is None:
        return None
    data, text = loaded
    _refuse_untranslatable(rel, data, COURSE_TRANSLATED_KEYS, COURSE_KEYS, problems, text)
    tr = CourseTranslation(language)
    for key in sorted(COURSE_TRANSLATED_KEYS & set(data)):
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(rel, _key_line(text, key),
                                    N_("'{key}' must be text, and not empty"), {"key": key}))
            continue
        setattr(tr, key, value.strip())
    return tr


def _check_course_wide(modules: list[ModuleSource], problems: list[Problem]) -> None:
    keys: dict[str, str] = {}
    for module in modules:
        titles = [t.title for t in module.topics]
        for topic in module.topics:
            where = f"{module.file} '{topic.title}'"
            if topic.key in keys and titles.count(topic.title) == 1:
                problems.append(Problem(module.file, topic.line,
                                        N_("topic key '{key}' is used twice ({first} and "
                                           "{second}); set a distinct 'key'"),
                                        {"key": topic.key, "first": keys[topic.key],
                                         "second": where}))
            keys.setdefault(topic.key, where)
    # Default priority follows module/topic order; explicit priorities must stay unique.
    order = 0
    used: dict[int, str] = {}
    for module in modules:
        for topic in module.topics:
            order += 1
            if not topic.priority:
                topic.priority = order * 10
            if topic.priority in used:
                problems.append(Problem(module.file, topic.line,
                                        N_("priority {priority} is also used by '{topic}'"),
                                        {"priority": topic.priority,
                                         "topic": used[topic.priority]}))
            used.setdefault(topic.priority, topic.title)


def load_course(path: Path) -> CourseSource:
    """Load a course from a folder or a .zip archive (which may hold one top-level folder)."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        return load_course_zip(path.read_bytes() if path.is_file() else b"", path.name)
    if not path.exists():
        raise CourseError([Problem(str(path), None, N_("does not exist"))])
    return load_course_dir(path)


def load_course_zip(data: bytes, name: str = "course.zip") -> CourseSource:
    if len(data) > MAX_ZIP_BYTES:
        raise CourseError([Problem(name, None, N_("is larger than {mb} MB"),
                                   {"mb": MAX_ZIP_BYTES // (1024 * 1024)})])
    with tempfile.TemporaryDirectory(prefix="learnbot-course-") as tmp:
        target = Path(tmp).resolve()
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                _unpack(archive, target, name)
        except (zipfile.BadZipFile, EOFError):
            raise CourseError([Problem(name, None, N_("is not a valid .zip archive"))]) from None
        except NotImplementedError:
            raise CourseError([Problem(name, None, N_("uses a compression method I can't "
                                                      "read; save it as a plain .zip"))]) from None
        entries = [p for p in target.iterdir() if not p.name.startswith(("__MACOSX", "."))]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else target
        return load_course_dir(root)


def _unpack(archive: zipfile.ZipFile, target: Path, name: str) -> None:
    """Extract entry by entry, refusing what could escape `target` or fill the disk. The
    declared sizes bound what zipfile will inflate, so checking them up front suffices."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise CourseError([Problem(name, None, N_("holds more than {count} files"),
                                   {"count": MAX_ZIP_ENTRIES})])
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        raise CourseError([Problem(name, None, N_("unpacks to more than {mb} MB"),
                                   {"mb": MAX_UNPACKED_BYTES // (1024 * 1024)})])
    problems = []
    for info in infos:
        dest = (target / info.filename).resolve()
        if info.flag_bits & 0x1:
            reason = N_("is encrypted; send an unencrypted .zip")
        elif stat.S_ISLNK(info.external_attr >> 16):
            reason = N_("is a symbolic link, which I don't follow")
        elif not dest.is_relative_to(target) or (dest == target and not info.is_dir()):
            reason = N_("has an unsafe path (outside the course)")
        else:
            continue
        problems.append(Problem(info.filename, None, reason))
    if problems:
        raise CourseError(problems)
    for info in infos:
        dest = (target / info.filename).resolve()
        if info.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, open(dest, "wb") as out:
            while chunk := src.read(1 << 16):
                out.write(chunk)
