"""bot/ui/markdown.py: Markdown → Telegram HTML (markdown-it-py) and splitting into messages."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.ui.markdown import pack, split_html, to_blocks
from content.course_format import load_course_dir
from tests.support.botapi import _parse_html

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "courses" / "sql-basics"
ALLOWED_TAGS = {"b", "i", "s", "u", "code", "pre", "a", "blockquote"}


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.errors.append(f"unsupported <{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with {self.stack} open")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_valid(message: str) -> str:
    """Balanced, Telegram-only tags; accepted by the fake Bot API's HTML parser. → plain text."""
    parser = _Balance()
    parser.feed(message)
    parser.close()
    assert parser.errors == [], message
    assert parser.stack == [], message
    _parse_html(message)  # raises like Telegram on a bad tag or entity
    return "".join(parser.text)


def render(markdown: str) -> str:
    messages = pack(to_blocks(markdown))
    assert len(messages) == 1
    assert_valid(messages[0])
    return messages[0]


def test_paragraphs_are_separated_by_a_blank_line_and_keep_line_breaks():
    assert to_blocks("one\ntwo\n\n\nthree") == ["one\ntwo", "three"]
    assert render("one\n\nthree") == "one\n\nthree"


def test_headings_become_a_bold_line():
    assert to_blocks("# Title\n\n### Sub *part*\ntext") == [
        "<b>Title</b>", "<b>Sub <i>part</i></b>", "text"]
    # strong text inside a heading doesn't open a second <b>
    assert to_blocks("## A **big** one") == ["<b>A big one</b>"]


def test_nested_emphasis_and_strike():
    assert render("**bold *both* bold** and *it **both***") == (
        "<b>bold <i>both</i> bold</b> and <i>it <b>both</b></i>")
    assert render("~~gone~~ __strong__ _em_") == "<s>gone</s> <b>strong</b> <i>em</i>"
    assert render("2 * 3 * 4 and snake_case_name") == "2 * 3 * 4 and snake_case_name"


def test_inline_code_escapes_and_keeps_markdown_literal():
    assert render("use `a < b && **c**` here") == (
        "use <code>a &lt; b &amp;&amp; **c**</code> here")


def test_fenced_code_with_language_and_indented_code():
    blocks = to_blocks("```python\nif a < b & c:\n    print('<x>')\n```\n\n    plain <code>\n")
    assert blocks == [
        '<pre><code class="language-python">if a &lt; b &amp; c:\n'
        "    print('&lt;x&gt;')</code></pre>",
        "<pre><code>plain &lt;code&gt;</code></pre>",
    ]
    # an odd info string gives no class attribute rather than a broken one
    assert to_blocks('```"><script>\nx\n```') == ["<pre><code>x</code></pre>"]


def test_an_oversized_code_block_becomes_several_pre_blocks():
    code = "\n".join(f"SELECT {i} < {i + 1};" for i in range(400))
    blocks = to_blocks(f"```sql\n{code}\n```", limit=1000)
    assert len(blocks) > 1
    for block in blocks:
        assert len(block) <= 1000
        assert block.startswith('<pre><code class="language-sql">SELECT ')
        assert_valid(block)
    assert "\n".join(assert_valid(b) for b in blocks) == code


def test_links_keep_safe_targets_only():
    assert render("[docs](https://example.com/a?b=1&c=2)") == (
        '<a href="https://example.com/a?b=1&amp;c=2">docs</a>')
    assert render("<https://x.org> and <me@x.org> and [me](tg://user?id=42)") == (
        '<a href="https://x.org">https://x.org</a> and '
        '<a href="mailto:me@x.org">me@x.org</a> and <a href="tg://user?id=42">me</a>')
    # quotes can't break out of the attribute
    out = render('[q](https://x.org/"onclick="alert(1))')
    assert out.startswith('<a href="https://x.org/%22onclick=%22alert(1)">')


@pytest.mark.parametrize("target", [
    "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<b>x</b>",
    "vbscript:msgbox", "file:///etc/passwd", "other-lesson.md", "/relative", "http://",
])
def test_other_links_render_as_their_text(target: str):
    out = render(f"see [the **docs**]({target}) now")
    assert out == "see the <b>docs</b> now"
    assert "href" not in out


def test_links_are_not_nested_and_hold_no_code():
    assert render("[`x` **y**](https://a.org)") == '<a href="https://a.org">x <b>y</b></a>'
    assert render("[![logo](https://a.org/l.png)](https://a.org)") == (
        '<a href="https://a.org">logo</a>')


def test_citation_markers_stay_as_written():
    assert render("Use a JOIN [1][2].\n\n[1]: Joins, module 2") == (
        "Use a JOIN [1][2].\n\n[1]: Joins, module 2")
    assert render("see [1] and [2, 3]") == "see [1] and [2, 3]"


def test_images_become_link_text():
    assert render("![a diagram](https://ex.com/d.png)") == (
        '<a href="https://ex.com/d.png">a diagram</a>')
    assert render("![a diagram](diagram.png)") == "a diagram"


def test_lists_nested_and_numbered():
    md = (
        "- apples\n"
        "- pears **ripe**\n"
        "  - green\n"
        "    1. small\n"
        "    2. big\n"
        "- plums\n"
        "\n"
        "text\n"
        "\n"
        "3. third\n"
        "4. fourth\n"
    )
    assert to_blocks(md) == [
        "• apples\n"
        "• pears <b>ripe</b>\n"
        "   • green\n"
        "      1. small\n"
        "      2. big\n"
        "• plums",
        "text",
        "3. third\n4. fourth",
    ]


def test_loose_list_items_with_several_paragraphs():
    md = "1. first\n\n   more about it\n2. second\n"
    assert to_blocks(md) == ["1. first\n   more about it\n2. second"]


def test_raw_html_is_escaped_never_passed_through():
    md = (
        "<div onclick=\"x()\">block</div>\n\n"
        "inline <b>bold</b> <script>alert(1)</script> & &amp; &lt;i&gt;"
    )
    out = render(md)
    assert out == (
        '&lt;div onclick="x()"&gt;block&lt;/div&gt;\n\n'
        "inline &lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp; &amp; "
        "&lt;i&gt;")


def test_blockquote_and_rule():
    assert to_blocks("> said *this*\n> > and that\n\n---") == [
        "<blockquote>said <i>this</i>\nand that</blockquote>", "———"]


def test_table_becomes_a_pre_block():
    md = "| Name | Pages |\n|------|------:|\n| `Dune` | 412 |\n| It & <Me> | 9 |\n"
    assert to_blocks(md) == [
        "<pre>Name      | Pages\n"
        "----------+------\n"
        "Dune      |   412\n"
        "It &amp; &lt;Me&gt; |     9</pre>"]


def test_unclosed_markup_is_left_as_text():
    assert render("**not closed and `tick") == "**not closed and `tick"


def test_long_text_is_split_into_balanced_parts():
    words = " ".join(f"w{i}" for i in range(60))
    para = f"**Bold {words}** and *italic [link](https://ex.com/{words[:5]}) {words}* & more"
    huge = f"***{words} [in a link {words}](https://ex.com) {' '.join([words] * 20)}***"
    md = "\n\n".join([para] * 40 + ["- " + words] * 30 + [huge] * 3
                     + ["```\n" + "x < y\n" * 2000 + "```"])
    blocks = to_blocks(md)
    assert max(len(b) for b in blocks) > 4096
    messages = pack(blocks)
    assert len(messages) > 5
    # the oversized emphasised paragraph continues, still bold and italic, in the next message
    assert any(m.startswith("<i><b>") and not m.startswith("<i><b>w0 ") for m in messages)
    text = []
    for message in messages:
        assert len(message) <= 4096
        text.append(assert_valid(message))
    joined = " ".join(text)
    assert joined.count("w59") == 40 * 2 + 30 + 3 * 22


def test_split_html_reopens_open_tags():
    inner = " ".join(["word &amp; more"] * 400)
    html = f'<b>start <a href="https://x.org">{inner}</a> end</b>'
    parts = split_html(html, 500)
    assert len(parts) > 5
    for part in parts:
        assert len(part) <= 500
        assert_valid(part)
    assert parts[0].startswith('<b>start <a href="https://x.org">word')
    assert parts[1].startswith('<b><a href="https://x.org">')
    assert parts[-1].endswith(" end</b>")
    assert all("&amp;" in p or "end" in p for p in parts)  # entities never cut


def test_split_html_without_spaces_still_fits():
    html = "<code>" + "&lt;" * 3000 + "</code>"
    parts = split_html(html, 1000)
    assert all(len(p) <= 1000 for p in parts)
    assert "".join(assert_valid(p) for p in parts) == "<" * 3000


def test_split_html_prefers_paragraph_then_line_breaks():
    # a paragraph break in the second half wins over a later line break
    html = "a" * 400 + "\n\n" + "b" * 100 + "\n" + "c" * 300
    assert split_html(html, 700) == ["a" * 400, "b" * 100 + "\n" + "c" * 300]
    # one in the first half is too early: the line break is used
    html = "a" * 300 + "\n\n" + "b" * 300 + "\n" + "c" * 300
    assert split_html(html, 700) == ["a" * 300 + "\n\n" + "b" * 300, "c" * 300]
    assert split_html("x" * 100 + "\n" + "y" * 500, 560) == ["x" * 100 + "\n" + "y" * 459,
                                                             "y" * 41]


def test_pack_keeps_short_blocks_together():
    assert pack(["<b>a</b>", "b", "c"]) == ["<b>a</b>\n\nb\n\nc"]
    assert pack(["a" * 3000, "b" * 3000]) == ["a" * 3000, "b" * 3000]
    assert pack([]) == []


def test_demo_lesson_file_renders_for_telegram():
    md = (DEMO / "03-changing-data-safely.md").read_text(encoding="utf-8")
    blocks = to_blocks(md)
    messages = pack(blocks)
    for message in messages:
        assert len(message) <= 4096
        assert_valid(message)
    joined = "\n\n".join(messages)
    first_line = md.splitlines()[0]
    assert first_line.startswith("# ")
    assert blocks[0] == f"<b>{first_line[2:]}</b>"  # the module title is a bold line
    topic = next(line for line in md.splitlines() if line.startswith("## "))
    assert f"<b>{topic[3:]}</b>" in blocks
    assert '<pre><code class="language-sql">' in joined
    assert "• <code>PRIMARY KEY</code> identifies each row." in joined
    for literal in ("**", "```", "## ", "\n- ", "`"):
        assert literal not in joined


def test_every_demo_topic_renders_without_markdown_left():
    course = load_course_dir(DEMO)
    for module in course.modules:
        for topic in module.topics:
            for message in pack(to_blocks(topic.body)):
                assert len(message) <= 4096
                plain = assert_valid(message)
                assert "```" not in plain and "**" not in plain
