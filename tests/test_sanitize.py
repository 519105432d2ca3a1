"""What the chat shows of an answer: HTML as text, images as links, code and maths as they are,
and the text as written given back to the model."""

from __future__ import annotations

import inspect
import itertools
import json
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from ui import marked
from ui import sanitize as module
from ui.sanitize import IMAGE_MARK, LATEX_DELIMITERS, Growing, restore, sanitize

PLAIN = [
    "",
    "A cat sits on a wooden table next to a window.",
    "图中有一只猫，它正在看窗外。",
    "If a < b and 5 > 3, then R&D costs rise; x<5 and a <= b too.",
    "**Bold**, _italic_, `code`, a [link](https://example.com) and a table:\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "```python\nprint(1 if a else 2)\n```\n\n1. step\n2. step\n\n> quoted",
    "Prices: $5 and $10. Maths: $$\\frac{1}{2}$$ and \\(x^2\\).",
    "Use &lt;div&gt; in HTML, &amp; for ampersands, and the <https://example.com> link.",
]


@pytest.mark.parametrize("text", PLAIN)
def test_text_without_html_or_images_comes_back_as_it_is(text):
    assert sanitize(text) == text
    assert restore(text) == text


@pytest.mark.parametrize("text", [
    "Click <a href='http://evil.example'>here</a>.",
    '<div style="position:fixed;inset:0"><form action="http://evil.example"><input name="key">'
    "<button>Sign in</button></form></div>",
    "<style>body{background:url(http://evil.example/x.png)}</style>",
    "<img src=http://evil.example/x.png srcset='http://evil.example/y.png 1x'>",
    "<!-- hidden --> <?php ?> <!DOCTYPE html> </p>",
])
def test_html_outside_code_shows_as_text_and_is_restored(text):
    shown = sanitize(text)
    assert "<" not in shown.replace("<https://", "")
    assert "&LT;" in shown
    assert restore(shown) == text


@pytest.mark.parametrize("text", [
    "```html\n<div class=\"a\"><img src=x></div>\n```",
    "Use `<div>` and `<span>`, and `List<int>`.",
    "An indented block:\n\n    <indented code>\n\nand text after it.",
    "1. Step one:\n   ```html\n   <b>x</b>\n   ```\n2. Step two `<i>`",
    "| tag | use |\n|---|---|\n| `<div>` | block |",
    "> Quote with `<br>`",
    "~~gone `<s>`~~ and **`<b>`**",
])
def test_code_keeps_its_html(text):
    assert sanitize(text) == text


@pytest.mark.parametrize("text", ["$$a<b$$", "\\(x<y\\) and \\[ <b> \\]", "$$\n<img src=x>\n$$"])
def test_maths_is_left_to_katex(text):
    assert sanitize(text) == text


@pytest.mark.parametrize("text", ["    <img src=http://evil.example/x.png>", "\t<img src=x>",
                                  "Intro\n\n    <img src=x>\n    <b>", "\n> quote\n\n    <img src=x>"])
def test_code_that_gradio_would_dedent_into_text_is_escaped(text):
    """Gradio's Chatbot dedents each text message (inspect.cleandoc): an indented code block that
    holds every line's indentation would come out as HTML."""
    shown = sanitize(text)
    assert "<" not in shown
    assert inspect.cleandoc(shown) == shown
    assert restore(shown) == inspect.cleandoc(inspect.cleandoc(text))


def test_html_around_code_is_escaped_and_the_code_kept():
    text = "<b>bold</b> then `<i>code</i>` then\n\n```\n<u>block</u>\n```\n<img src=x>"
    assert sanitize(text) == ("&LT;b>bold&LT;/b> then `<i>code</i>` then\n\n```\n<u>block</u>\n```\n"
                              "&LT;img src=x>")


@pytest.mark.parametrize(("text", "shown"), [
    ('![chart](http://evil.example/c.png "title")',
     f'[{IMAGE_MARK}chart](http://evil.example/c.png "title")'),
    ("![](http://evil.example/c.png)", f"[{IMAGE_MARK}](http://evil.example/c.png)"),
    ("![a b](<http://evil.example/a b.png>)", f"[{IMAGE_MARK}a b](<http://evil.example/a b.png>)"),
    ("![logo][l]\n\n[l]: http://evil.example/l.png", f"[{IMAGE_MARK}logo][l]\n\n[l]: http://evil.example/l.png"),
    ("![l] and ![l][]\n\n[l]: http://evil.example/l.png",
     f"[{IMAGE_MARK}l][l] and [{IMAGE_MARK}l][l]\n\n[l]: http://evil.example/l.png"),
    ("[![inner](http://evil.example/i.png)](http://example.com)",
     f"[[{IMAGE_MARK}inner](http://evil.example/i.png)](http://example.com)"),
    ("\\![not an image](http://example.com)", "\\![not an image](http://example.com)"),
    ("`![in code](http://evil.example/x.png)`", "`![in code](http://evil.example/x.png)`"),
])
def test_images_become_links(text, shown):
    assert sanitize(text) == shown


def test_mermaid_diagrams_are_shown_as_code():
    """Gradio draws ```mermaid from unescaped HTML, which could hold anything."""
    text = '```mermaid\ngraph TD; A["<img src=http://evil.example/x.png>"]\n```'
    assert sanitize(text) == text.replace("```mermaid", "``` mermaid")


@pytest.mark.parametrize("text", [
    "Literal &LT; and &AMP; in prose, and <b>tags</b>",
    "`&lt;` in code stays, <i>x</i> outside",
    "A\\<b> escaped tag, a \\\\<b> unescaped one",
    'An <img src="/file=cat.png"> and `src="/file=x`, a literal &QUOT;',
    "<b>" * 50 + "\n\n```\n" + "<i>" * 50 + "\n```",
])
def test_what_the_model_reads_is_what_was_written(text):
    assert restore(sanitize(text)) == text


def test_a_growing_answer_is_sanitized_like_the_whole_and_reuses_finished_parts(monkeypatch):
    text = "".join(f"Part {i} has <b>html</b> and `<code>`.\n\n```html\n<p>{i}</p>\n```\n\n"
                   for i in range(30))
    done: list[str] = []
    real = module._sanitized_part
    monkeypatch.setattr(module, "_sanitized_part", lambda part, deadline: (done.append(part),
                                                                           real(part, deadline))[1])
    growing = Growing()
    for end in range(1, len(text) + 1, 37):
        assert growing(text[:end]) == sanitize(text[:end])
    growing(text)
    done.clear()
    growing(text + "Part 30 <i>more</i>")
    # Only the new part and the one before it (its trailing blank lines were dropped before).
    assert [part[:7] for part in done] == ["```html", "Part 30"]


def test_when_time_runs_out_code_is_escaped_too_and_nothing_is_lost(monkeypatch):
    def out_of_time(self, work=1):
        raise marked.OutOfTime

    monkeypatch.setattr(marked.Lexer, "_tick", out_of_time)
    text = "<b>x</b> `<i>` ![a](http://evil.example/a.png)\n\n```\n<u>\n```"
    shown = sanitize(text)
    assert "<" not in shown and "![" not in shown
    assert restore(shown) == text.replace("![a]", f"[{IMAGE_MARK}a]")


@pytest.mark.parametrize("text", [
    "[" * 2_000 + "`<b>`",
    "*a `<b>` " * 1_000,
    "> " * 100 + "`<b>`\n" + "> q `<i>`\n" * 1_000,
    "[a]: /u \"\n" * 2_000 + "`<b>`",
    "".join("  " * (i % 30) + "- `<b>`\n" for i in range(1_000)),
])
def test_pathological_answers_still_come_out_safe(text):
    shown = sanitize(text)
    assert restore(shown) == inspect.cleandoc(text)
    assert _danger(shown) == []


def test_the_delimiters_are_the_chatbots():
    """sanitize() must take out exactly the maths the Chatbot takes out."""
    from ui.page.layout import build_demo
    from ui.settings import Settings

    demo = build_demo(Settings.from_env({"OPENAI_API_KEY": "sk-test-key-123456789"}))
    [chatbot] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "chat"]
    assert tuple((d["left"], d["right"]) for d in chatbot.latex_delimiters) == LATEX_DELIMITERS


# --- where texts enter and leave the chat history ----------------------------------------------

QUESTION = "Why does <div style='position:fixed'> cover the page, and what is ![x](u)?"
ANSWER = "Because `position:fixed` is relative to the viewport: <b>always</b>.\n\n```html\n<div>\n```"


def test_the_model_reads_the_conversation_as_it_was_written():
    from ui.conversation import Answer, user_message
    from ui.endpoint import TextDelta
    from ui.messages import build_messages
    from ui.profiles import profile_for

    history = [user_message(QUESTION, [])]
    assert "<div" not in history[0]["content"][0]  # the chat shows it as text
    answer = Answer.start(history)
    answer.apply(TextDelta(ANSWER))
    shown = answer.close()
    assert "<b>" not in shown[-1]["content"] and "```html\n<div>\n```" in shown[-1]["content"]
    follow_up = [*shown, user_message("And <span>?", [])]
    messages = build_messages(follow_up, profile=profile_for("glm-4.5v")).messages
    texts = [m["content"] if isinstance(m["content"], str) else m["content"][-1]["text"] for m in messages]
    assert texts == [QUESTION.replace("![x]", f"[{IMAGE_MARK}x]"), ANSWER, "And <span>?"]


def test_an_earlier_answer_kept_by_retry_stays_inert():
    from ui.conversation import Answer, for_retry, user_message
    from ui.endpoint import TextDelta

    answer = Answer.start([user_message("q", [])])
    answer.apply(TextDelta(ANSWER))
    earlier = for_retry(answer.close())[-1]
    assert earlier["metadata"]["title"].startswith("↩️")
    assert earlier["content"] == sanitize(ANSWER) and "<b>" not in earlier["content"]


def test_undo_puts_the_question_back_as_it_was_typed():
    from ui.conversation import pop_last_turn, user_message

    _, text, _ = pop_last_turn([user_message("What is <br>?", [])])
    assert text == "What is <br>?"


def test_thinking_and_notices_are_shown_as_text():
    from ui.conversation import Answer
    from ui.endpoint import ReasoningDelta

    answer = Answer.start([])
    answer.apply(ReasoningDelta("<img src=http://evil.example/t.png>"))
    answer.notice("The endpoint said <b>no</b>", "<html><body>502</body></html>")
    thinking, notice = answer.history
    assert thinking["content"] == "&LT;img src=http://evil.example/t.png>"
    assert notice["content"] == "&LT;html>&LT;body>502&LT;/body>&LT;/html>"
    assert notice["metadata"]["title"] == "⚠️ The endpoint said &LT;b>no&LT;/b>"


def test_an_imported_chat_is_sanitized_and_exported_as_written(tmp_path):
    from ui.export import to_json
    from ui.importing import from_json

    document = {"format": "glm-vision-chat", "version": 1, "messages": [
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<i>thought</i>"}],
         "metadata": {"title": "<img src=http://evil.example/t.png>", "status": "done"}},
        {"role": "assistant", "content": [{"type": "text", "text": ANSWER}]}]}
    history, _ = from_json(json.dumps(document), tmp_path)
    assert history[0]["content"] == [sanitize(QUESTION)]
    assert history[1]["content"] == "&LT;i>thought&LT;/i>"
    assert history[1]["metadata"]["title"] == "&LT;img src=http://evil.example/t.png>"
    assert history[2]["content"] == sanitize(ANSWER)
    exported = json.loads(to_json(history, {}))["messages"]
    assert exported[1]["metadata"]["title"] == "<img src=http://evil.example/t.png>"
    assert [m["content"][0]["text"] for m in exported] == [
        QUESTION.replace("![x]", f"[{IMAGE_MARK}x]"), "<i>thought</i>", ANSWER]


# --- against Gradio's own marked ----------------------------------------------------------------

BUNDLE_GLOB = "templates/frontend/assets/markdown-code-*.js"
# Rules of marked 12 that ui/marked.py ports, as they appear in Gradio's bundle.
PORTED = [
    r"M=/^ {0,3}(`{3,}(?=[^`\n]*(?:\n|$))|~{3,})([^\n]*)(?:\n|$)(?:|([\s\S]*?)(?:\n|$))"
    r"(?: {0,3}\1[~`]* *(?=\n|$)|$)/",
    r"ie=/^( {4}[^\n]+(?:\n(?: *(?:\n|$))*)?)+/",
    r"he=/^(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/",
    r"u=t[2].search(/[^ ]/),u=u>4?1:u,s=r.slice(u),u+=t[1].length",
    r"%%%LATEX_BLOCK_${n.length-1}%%%",
    r"/^```mermaid\s*\n([\s\S]*?)```\s*(?:\n|$)/",
]


def _bundle() -> Path:
    import gradio

    [path] = Path(gradio.__file__).parent.glob(BUNDLE_GLOB)
    return path


def test_the_port_matches_the_bundled_marked():
    """A Gradio upgrade that changes marked must be looked at: the port may need to follow."""
    source = _bundle().read_text("utf-8")
    missing = [rule for rule in PORTED if rule not in source]
    assert missing == []


HARNESS = """
const DELIMS = %s;
function escRe(e){return e.replace(/[.*+?^${}()|[\\]\\\\]/g,`\\\\$&`)}
const r = new Ne; r.use({gfm:!0,pedantic:!1,breaks:true}); r.use({extensions:[_t(), gt(DELIMS)]});
let input = ''; process.stdin.on('data', c => input += c); process.stdin.on('end', () => {
  const out = JSON.parse(input).map(text => {
    text = text.replace('src="/file', 'src="http://127.0.0.1:7860/file');  // what the page does first
    DELIMS.forEach(d => {
      const maths = RegExp(`${escRe(d.left)}([\\\\s\\\\S]+?)${escRe(d.right)}`, 'g');
      text = text.replace(maths, '%%%%%%LATEX_BLOCK_0%%%%%%');
    });
    const found = [];
    r.walkTokens(r.lexer(text), t => {
      if (['html', 'image', 'mermaid', 'latex'].includes(t.type)) found.push(t.raw);
    });
    return found;
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def _danger(*texts: str) -> list[str]:
    """What Gradio's own marked (run in node) would render as HTML or an image, in any text."""
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("CI must have node to run Gradio's bundled marked")
        return []  # checked where node is installed
    source = _bundle().read_text("utf-8")
    start, end = source.find("function p(){return{async:!1"), source.find("function Pe(")
    extensions = source[source.find("function gt("):source.find("var vt=")]
    assert 0 <= start < end and extensions, "the bundle's layout changed: update this harness"
    delimiters = json.dumps([{"left": left, "right": right} for left, right in LATEX_DELIMITERS])
    script = source[start:end] + extensions + HARNESS % delimiters
    shown = [inspect.cleandoc(text) for text in texts]  # as Gradio's Chatbot hands them on
    result = subprocess.run([node, "--input-type=module", "-e", script], input=json.dumps(shown),
                            capture_output=True, text=True, timeout=120, check=True)
    return [raw for found in json.loads(result.stdout) for raw in found]


FRAGMENTS = ["<img src=x>", "<b>", "</b>", "<div>", "<style>", "<!-- c -->", "`", "``", "```", "~~~",
             "*", "_", "~", "~~", "[", "]", "(", ")", "![", "](", "][", "]:", "\\", "$$", "\\[", "\\]",
             "\\(", "\\)", "http://e.x/a", "www.e.x", "<http://e.x>", " ", "    ", "\t", "\n", "\n\n",
             "- ", "1. ", "> ", "# ", "---", "| ", "|---|---|", "\"", "&LT;", "word", "<", "[r]: /u \"",
             "```mermaid\n", "%%%LATEX_BLOCK_0%%%", 'src="/file=x.png"']


def test_the_pages_own_address_cannot_turn_code_into_html():
    """The page writes its address into the first src="/file of a message: in plain text that
    starts a link that would swallow the backtick opening the code span after it."""
    if shutil.which("node") is None:
        if IN_CI:
            pytest.fail("CI must have node to run Gradio's bundled marked")
        pytest.skip("needs node to run Gradio's bundled marked")
    text = 'See src="/file`<img src=http://evil.example/x.png>`'
    assert _danger(sanitize(text)) == []
    assert restore(sanitize(text)) == text


def test_gradios_marked_finds_no_html_or_image_in_anything_sanitized():
    if shutil.which("node") is None:
        if IN_CI:
            pytest.fail("CI must have node to run Gradio's bundled marked")
        pytest.skip("needs node to run Gradio's bundled marked")
    rng = random.Random(13)
    texts = ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40))) for _ in range(400)]
    assert _danger(*texts) != []  # the harness sees what it should
    assert _danger(*map(sanitize, texts)) == []


# --- maths too deep or too long to render -------------------------------------------------------

DEEP = "$$" + "\\frac{1}{" * 150 + "x" + "}" * 150 + "$$"  # crashed Chromium's tab, 1.5 KB


def test_maths_too_deep_or_too_long_is_shown_as_code():
    from ui.maths import MATHS_CHARS, MATHS_DEPTH

    shallow = "$$" + "\\frac{1}{" * MATHS_DEPTH + "x" + "}" * MATHS_DEPTH + "$$"
    assert sanitize(f"Fine: {shallow} ok") == f"Fine: {shallow} ok"
    assert sanitize(f"Deep: {DEEP} end") == f"Deep: `{DEEP}` end"
    long = "\\[" + "x+" * (MATHS_CHARS // 2) + "\\]"
    assert sanitize(long) == f"`{long}`"
    assert sanitize("\\(" + "{" * 500 + "x" + "}" * 500 + "\\)").startswith("`\\({{{")


@pytest.mark.parametrize("maths", [
    "\\Large " * 200 + "x",  # each one puts the rest of its group a level down
    "\\left(" * 200 + "x" + "\\right)" * 200,
    "\\begin{matrix}" * 200 + "x" + "\\end{matrix}" * 200,
    # Each macro a fraction deeper than the last: 150 levels in 3.5 KB, never three braces deep.
    "\\def\\aa{x}" + "".join(f"\\def\\{b}{{\\frac{{1}}{{\\{a}}}}}" for a, b in itertools.pairwise(
        "".join(pair) for pair in itertools.product(string.ascii_lowercase, repeat=2)) if b <= "fu")
    + "\\fu",
])
def test_every_way_of_nesting_counts(maths):
    assert sanitize(f"$${maths}$$") == f"`$${maths}$$`"


def test_long_answers_full_of_ordinary_maths_are_left_to_katex():
    text = "\n\n".join(f"Step {i}: $$\\frac{{a_{i}}}{{\\sqrt{{b^2 + c_{{{i}}}}}}} \\cdot "
                       f"\\left(\\frac{{1}}{{2}}\\right)$$" for i in range(500))
    assert sanitize(text) == text


@pytest.mark.parametrize(("text", "shown"), [
    (f"Inline `{DEEP}` code", f"Inline `{DEEP}` code"),  # code already
    # Code already, but telling so would need marked's lexer, which the port only follows as far
    # as HTML goes: it shows its backticks, and is safe.
    (f"```latex\n{DEEP}\n```", f"```latex\n````{DEEP}````\n```"),
    (f"a ` b {DEEP} c", f"a ` b ``{DEEP}`` c"),  # a stray backtick cannot pair with the code's
    (f"\\{DEEP}", f"\\ `{DEEP}`"),  # a backslash would escape the backtick
    (f"<b>{DEEP}</b>", f"&LT;b> `{DEEP}`&LT;/b>"),
    (f"www.example.com/{DEEP}", f"www.example.com/ `{DEEP}`"),  # an autolink would take it in
])
def test_deep_maths_becomes_code_wherever_it_is_and_only_once(text, shown):
    assert sanitize(text) == shown
    assert sanitize(restore(shown)) == shown  # exported and imported again: no second wrapping


def test_the_pages_placeholder_written_in_a_text_cannot_bring_deep_maths_back():
    """The page puts maths span n back wherever `%%%LATEX_BLOCK_n%%%` stands in its HTML."""
    shown = sanitize(f"Here: %%%LATEX_BLOCK_0%%% and {DEEP}")
    assert shown == f"Here: %%%LATEX&#95;BLOCK_0%%% and `{DEEP}`"
    assert restore(shown) == f"Here: %%%LATEX&#95;BLOCK_0%%% and `{DEEP}`"


def test_deep_maths_streamed_becomes_code_once_it_closes():
    growing = Growing()
    assert growing(DEEP[:-2]) == DEEP[:-2]  # not maths yet: Gradio leaves an unclosed $$ alone
    assert growing(DEEP) == f"`{DEEP}`"


MATHS_HARNESS = """
const DELIMS = %s;
function escRe(e){return e.replace(/[.*+?^${}()|[\\]\\\\]/g,`\\\\$&`)}
const r = new Ne; r.use({gfm:!0,pedantic:!1,breaks:true}); r.use({extensions:[_t(), gt(DELIMS)]});
let input = ''; process.stdin.on('data', c => input += c); process.stdin.on('end', () => {
  const out = JSON.parse(input).map(text => {
    const maths = [];  // as the page does: each span becomes a numbered placeholder
    DELIMS.forEach(d => {
      const re = RegExp(`${escRe(d.left)}([\\\\s\\\\S]+?)${escRe(d.right)}`, 'g');
      text = text.replace(re, m => (maths.push(m), `%%%%%%LATEX_BLOCK_${maths.length - 1}%%%%%%`));
    });
    // What the page shows as text, where KaTeX looks: the HTML without code and without tags.
    const html = r.parser(r.lexer(text));
    const shown = html.replace(/<code[^>]*>[\\s\\S]*?<\\/code>/g, '').replace(/<[^>]*>/g, '');
    const rendered = new Set([...shown.matchAll(/%%%%%%LATEX_BLOCK_(\\d+)%%%%%%/g)].map(m => +m[1]));
    return maths.filter((m, i) => rendered.has(i));
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def _maths_katex_renders(*texts: str) -> list[str]:
    """The maths spans that Gradio's own marked (run in node) puts in the page's text, outside
    code: the ones KaTeX renders."""
    node = shutil.which("node")
    assert node is not None
    source = _bundle().read_text("utf-8")
    start, end = source.find("function p(){return{async:!1"), source.find("function Pe(")
    extensions = source[source.find("function gt("):source.find("var vt=")]
    delimiters = json.dumps([{"left": left, "right": right} for left, right in LATEX_DELIMITERS])
    script = source[start:end] + extensions + MATHS_HARNESS % delimiters
    shown = [inspect.cleandoc(text) for text in texts]
    result = subprocess.run([node, "--input-type=module", "-e", script], input=json.dumps(shown),
                            capture_output=True, text=True, timeout=120, check=True)
    return [maths for found in json.loads(result.stdout) for maths in found]


def test_gradios_marked_reads_deep_maths_as_code_wherever_it_stood():
    if shutil.which("node") is None:
        if IN_CI:
            pytest.fail("CI must have node to run Gradio's bundled marked")
        pytest.skip("needs node to run Gradio's bundled marked")
    from ui.maths import too_much

    rng = random.Random(15)
    pieces = [*FRAGMENTS, DEEP, DEEP.replace("$$", "\\(", 1).replace("$$", "\\)"), "%%%LATEX_BLOCK_1%%%",
              "LATEX_BLOCK_1", "\\[" + "x+" * 2_500 + "\\]"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(400)]
    texts = [t for t in texts if "\\frac{1}{\\frac{1}{" in t or "x+x+" in t]
    assert any(too_much(m) for m in _maths_katex_renders(*texts))  # the harness sees what it should
    assert [m[:40] for m in _maths_katex_renders(*map(sanitize, texts)) if too_much(m)] == []
