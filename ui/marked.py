"""Gradio's Markdown renderer, as far as code, raw HTML and images go: a port of the lexer of the
`marked` 12 bundled in Gradio's page (GFM, line breaks) with Gradio's LaTeX and mermaid steps.

ui/sanitize.py asks it which parts of a text the page will show as code (and so literally) and
which as Markdown, where raw HTML and images must not reach the page. It must agree with the page
exactly: tests/test_sanitize.py runs the bundled marked in node on sanitized texts, and fails when
a Gradio upgrade changes the parts of marked ported here.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

# The Chatbot's latex_delimiters (ui/page/layout.py), in its order: Gradio takes these spans out first.
LATEX_DELIMITERS: tuple[tuple[str, str], ...] = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"))
DANGER = re.compile(r"<[A-Za-z/!?]|!\[")  # what would be a tag or an image if it were not code
ESCAPED = re.compile(r"&(?:LT|AMP|QUOT);|src=\"/file")  # what escaping changes besides
class OutOfTime(Exception):
    pass


_JS_SPACE = "\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_SPACE_CHARS = "\t\n\x0b\x0c\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B))


def _js(source: str, flags: int = 0) -> re.Pattern[str]:
    """A JavaScript regex for .match(text, pos, endpos): its `^` anchors go (match() anchors at
    pos), `$` is the end of input, `\\s` is JavaScript's, `\\w` and `\\d` are ASCII."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(source):
        if source.startswith("[\\s\\S]", i):
            out.append("[\\s\\S]")
            i += 6
            continue
        c = source[i]
        if c == "\\":
            pair = source[i:i + 2]
            if pair == "\\s":
                out.append(_JS_SPACE if in_class else f"[{_JS_SPACE}]")
            elif pair == "\\S":
                assert not in_class, source
                out.append(f"[^{_JS_SPACE}]")
            else:
                out.append(pair)
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            if c in "~&|":
                c = "\\" + c  # Python reads "~~", "&&", "||" in a class as set operations
        elif c == "[":
            in_class = True
        elif c == "^":
            i += 1
            continue
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return re.compile("".join(out), flags | re.ASCII)


_TAGS = ("address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|"
         "dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|"
         "header|hr|html|iframe|legend|li|link|main|menu|menuitem|meta|nav|noframes|ol|optgroup|"
         "option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul")
_HR = r" {0,3}((?:-[\t ]*){3,}|(?:_[ \t]*){3,}|(?:\*[ \t]*){3,})(?:\n+|$)"
_HTML_START = r"<\/?(?:" + _TAGS + r")(?: +|\n|\/?>)|<(?:script|pre|style|textarea|!--)"
_STOPS = (r" {0,3}#{1,6}(?:\s|$)| {0,3}>| {0,3}(?:`{3,}(?=[^`\n]*\n)|~{3,})[^\n]*\n| {0,3}(?:[*+-]|1[.)]) |"
          + _HTML_START)
_TABLE = (r" *([^\n ].*)\n {0,3}((?:\| *)?:?-+:? *(?:\| *:?-+:? *)*(?:\| *)?)(?:\n((?:(?! *\n|" + _HR
          + r"| {0,3}#{1,6}(?:\s|$)| {0,3}>| {4}[^\n]| {0,3}(?:`{3,}(?=[^`\n]*\n)|~{3,})[^\n]*\n"
          r"| {0,3}(?:[*+-]|1[.)]) |" + _HTML_START + r").*(?:\n|$))*)\n*|$)")
_PARAGRAPH = r"([^\n]+(?:\n(?!" + _HR + "|" + _STOPS + "|" + _TABLE + r"| +\n)[^\n]+)*)"
_QUOTED_PARAGRAPH = r"([^\n]+(?:\n(?!" + _HR + "|" + _STOPS + r"| +\n)[^\n]+)*)"
_LEFT_OF_LHEADING = (r"(?:[*+-]|\d{1,9}[.)]) | {4}| {0,3}(?:`{3,}|~{3,})| {0,3}>| {0,3}#{1,6}"
                     r"| {0,3}<[^\n>]+>\n")

_B_NEWLINE = _js(r"(?: *(?:\n|$))+")
_B_CODE = _js(r"( {4}[^\n]+(?:\n(?: *(?:\n|$))*)?)+")
_B_FENCES = _js(r" {0,3}(`{3,}(?=[^`\n]*(?:\n|$))|~{3,})([^\n]*)(?:\n|$)(?:|([\s\S]*?)(?:\n|$))"
                r"(?:( {0,3}\1[~`]* *)(?=\n|$)|$)")
_B_HEADING = _js(r" {0,3}(#{1,6})(?=\s|$)(.*)(?:\n+|$)")
_B_HR = _js(_HR)
_B_BLOCKQUOTE = _js(r"( {0,3}> ?(" + _QUOTED_PARAGRAPH + r"|[^\n]*)(?:\n|$))+")
_B_LIST = _js(r"( {0,3}(?:[*+-]|\d{1,9}[.)]))([ \t][^\n]+?)?(?:\n|$)")
_B_HTML = _js(
    r" {0,3}(?:<(script|pre|style|textarea)[\s>][\s\S]*?(?:<\/\1>[^\n]*\n+|$)|<!--(?:-?>|[\s\S]*?(?:-->|$))"
    r"[^\n]*(\n+|$)|<\?[\s\S]*?(?:\?>\n*|$)|<![A-Z][\s\S]*?(?:>\n*|$)|<!\[CDATA\[[\s\S]*?(?:\]\]>\n*|$)"
    r"|<\/?(" + _TAGS + r")(?: +|\n|\/?>)[\s\S]*?(?:(?:\n *)+\n|$)|<(?!script|pre|style|textarea)"
    r"([a-z][\w-]*)(?: +[a-zA-Z:_][\w.:-]*(?: *= *\"[^\"\n]*\"| *= *'[^'\n]*'| *= *[^\s\"'=<>`]+)?)*? *\/?>"
    r"(?=[ \t]*(?:\n|$))[\s\S]*?(?:(?:\n *)+\n|$)|<\/(?!script|pre|style|textarea)[a-z][\w-]*\s*>"
    r"(?=[ \t]*(?:\n|$))[\s\S]*?(?:(?:\n *)+\n|$))", re.IGNORECASE)
_B_DEF = _js(r" {0,3}\[((?!\s*\])(?:\\.|[^\[\]\\])+)\]: *(?:\n *)?([^<\s][^\s]*|<.*?>)"
             r"(?:(?: +(?:\n *)?| *\n *)"
             r"((?:\"(?:\\\"?|[^\"\\])*\"|'[^'\n]*(?:\n[^'\n]+)*\n?'|\([^()]*\))))? *(?:\n+|$)")
_B_TABLE = _js(_TABLE)
_B_LHEADING = _js(r"(?!" + _LEFT_OF_LHEADING + r")((?:.|\n(?!\s*?\n|" + _LEFT_OF_LHEADING
                  + r"))+?)\n {0,3}(=+|-+) *(?:\n+|$)")
_B_PARAGRAPH = _js(_PARAGRAPH)
_B_TEXT = _js(r"[^\n]+")
_B_MERMAID = _js(r"```mermaid\s*\n([\s\S]*?)```\s*(?:\n|$)")
_B_MERMAID_START = _js(r"```mermaid\s*\n")

_LABEL = r"(?:\[(?:\\.|[^\[\]\\])*\]|\\.|`[^`]*`|[^\[\]\\`])*?"
_REF = r"(?!\s*\])(?:\\.|[^\[\]\\])+"
_I_ESCAPE = _js(r"\\([!\"#$%&'()*+,\-./:;<=>?@\[\]\\^_`{|}~~|])")
_I_TAG = _js(r"<!--(?:-?>|[\s\S]*?-->)|<\/[a-zA-Z][\w:-]*\s*>|<[a-zA-Z][\w-]*(?:\s+[a-zA-Z:_][\w.:-]*"
             r"(?:\s*=\s*\"[^\"]*\"|\s*=\s*'[^']*'|\s*=\s*[^\s\"'=<>`]+)?)*?\s*\/?>|<\?[\s\S]*?\?>"
             r"|<![a-zA-Z]+\s[\s\S]*?>|<!\[CDATA\[[\s\S]*?\]\]>")
LINK = _js(r"!?\[(" + _LABEL + r")\]\(\s*(<(?:\\.|[^\n<>\\])+>|[^\s\x00-\x1f]*)(?:\s+(\"(?:\\\"?|[^\"\\])*\""
            r"|'(?:\\'?|[^'\\])*'|\((?:\\\)?|[^)\\])*\)))?\s*\)")
REFLINK = _js(r"!?\[(" + _LABEL + r")\]\[(" + _REF + r")\]")
_NOLINK = _js(r"!?\[(" + _REF + r")\](?:\[\])?")
_REFLINK_SEARCH = _js(r"!?\[(" + _LABEL + r")\]\[(" + _REF + r")\]|!?\[(" + _REF + r")\](?:\[\])?(?!\()")
_I_CODE = _js(r"(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)")
_I_BR = _js(r"( *|\\)\n(?!\s*$)")
_I_DEL = _js(r"(~~?)(?=[^\s~])([\s\S]*?[^\s~])\1(?=[^~]|$)")
AUTOLINK = _js(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s\x00-\x1f<>]*|[a-zA-Z0-9.!#$%&'*+/=?_`{|}~-]+(@)"
                r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}"
                r"[a-zA-Z0-9])?)+(?![-_]))>")
_I_URL = _js(r"((?:ftp|https?):\/\/|www\.)(?:[a-zA-Z0-9\-]+\.?)+[^\s<]*|[A-Za-z0-9._+-]+(@)[a-zA-Z0-9-_]+"
             r"(?:\.[a-zA-Z0-9-_]*[a-zA-Z0-9])+(?![-_])", re.IGNORECASE)
_I_BACKPEDAL = _js(r"(?:[^?!.,:;*_'\"~()&]+|\([^)]*\)|&(?![a-zA-Z0-9]+;$)|[?!.,:;*_'\"~)]+(?!$))+")
_I_TEXT = _js(r"([`~]+|[^`~])(?:(?= *\n)|(?=[a-zA-Z0-9.!#$%&'*+\/=?_`{\|}~-]+@)|[\s\S]*?(?:(?=[\\<!\[`*~_]"
              r"|\b_| *\n|https?:\/\/|ftp:\/\/|www\.|$)|[^ ](?= *\n)|[^a-zA-Z0-9.!#$%&'*+\/=?_`{\|}~-]"
              r"(?=[a-zA-Z0-9.!#$%&'*+\/=?_`{\|}~-]+@)))")
_I_SKIP = _js(r"\[[^[\]]*?\]\([^\(\)]*?\)|`[^`]*?`|<[^<>]*?>")

SPACES = re.compile(f"[{_JS_SPACE}]+")
_TABS = re.compile(r"(?m)^( *)(\t+)")
_SETEXT_LINE = re.compile(r" {0,3}((?:=+|-+) *)")
_QUOTE_MARK = re.compile(r" *>[ \t]?")
_TASK = re.compile(r"\[[ xX]\] +")
_NEVER = re.compile(r"(?!)")


class _M:
    """A string cut from the lexed text, with the lexed position of each character (-1: added);
    `o` is None while those are simply `base`, `base` + 1, ..."""

    __slots__ = ("_o", "base", "s")

    def __init__(self, s: str, o: list[int] | None = None, base: int = 0) -> None:
        self.s, self._o, self.base = s, o, base

    @property
    def o(self) -> list[int]:
        if self._o is None:
            return list(range(self.base, self.base + len(self.s)))
        return self._o

    def cut(self, start: int, end: int | None = None) -> _M:
        if self._o is None:
            return _M(self.s[start:end], None, self.base + min(start, len(self.s)))
        return _M(self.s[start:end], self._o[start:end])

    def __add__(self, other: _M) -> _M:
        return _M(self.s + other.s, self.o + other.o)

    def at(self, i: int) -> int:
        """The lexed position of character i; len(s) is just after the last character."""
        if self._o is None:
            return self.base + min(i, len(self.s))
        if i < len(self._o) and self._o[i] >= 0:
            return self._o[i]
        for j in range(min(i, len(self._o)) - 1, -1, -1):
            if self._o[j] >= 0:
                return self._o[j] + 1
        return 0


def _joined(pieces: list[_M], sep: str = "\n") -> _M:
    if len(pieces) == 1:
        return pieces[0]
    s = sep.join(p.s for p in pieces)
    o: list[int] = []
    for i, p in enumerate(pieces):
        if i:
            o.extend([-1] * len(sep))
        o.extend(p.o)
    return _M(s, o)


def _lines(m: _M) -> list[_M]:
    out, start = [], 0
    while True:
        end = m.s.find("\n", start)
        if end < 0:
            out.append(m.cut(start))
            return out
        out.append(m.cut(start, end))
        start = end + 1


def _trim(m: _M) -> _M:
    a, b = 0, len(m.s)
    while a < b and m.s[a] in _JS_SPACE_CHARS:
        a += 1
    while b > a and m.s[b - 1] in _JS_SPACE_CHARS:
        b -= 1
    return m.cut(a, b)


def _search_non_space(s: str) -> int:
    """JavaScript's s.search(/[^ ]/)."""
    stripped = len(s) - len(s.lstrip(" "))
    return stripped if stripped < len(s) else -1


@dataclass
class _Token:
    kind: str
    context: int = -1  # its inline text, for paragraphs and text that later lines join


_UNDERLINE = re.compile(r"\n {0,3}(?:=+|-+) *(?:\n|\Z)")
_URL_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


class Lexer:
    """What marked makes of a text: code (block and inline), and anything that would render as
    HTML or an image (`danger`). Positions are in the lexed text. Each rule is only tried where
    its first character allows it, which is what keeps this affordable in Python."""

    def __init__(self, text: str, deadline: float, want_code: bool = False) -> None:
        self.text, self.deadline, self.want_code = text, deadline, want_code
        self.links: set[str] = set()
        self.code: list[tuple[int, int]] = []
        self.danger: list[tuple[int, int]] = []
        self.contexts: list[list[_M]] = []  # inline texts: pieces joined by "\n"
        self.top = True
        self.depth = 0
        self.open = False  # the text ends in a fence left open at the top level
        self.in_link = False
        self._work = 0
        self._check_at = 256

    def run(self) -> Lexer:
        self.blocks(_M(self.text))
        for pieces in self.contexts:
            if any(self._worth_inline(p.s) for p in pieces) or (
                    len(pieces) > 1 and self._worth_inline("\n".join(p.s for p in pieces))):
                self.inline(_joined(pieces))
        return self

    def _tick(self, work: int = 1) -> None:
        self._work += work
        if self._work >= self._check_at:
            self._check_at = self._work + 256
            if time.perf_counter() > self.deadline:
                raise OutOfTime

    def _worth_inline(self, s: str) -> bool:
        if self.want_code:
            return "`" in s and ("\ufffc" in s or "![" in s or bool(ESCAPED.search(s)))
        return bool(DANGER.search(s))

    def _push(self, m: _M) -> int:
        self.contexts.append([m])
        return len(self.contexts) - 1

    # -- blocks ---------------------------------------------------------------------------------

    def blocks(self, src: _M) -> None:
        """marked's blockTokens."""
        if "\t" in src.s:
            src = _expand_tabs(src)
        s, n = src.s, len(src.s)
        self._tick(n // 64)
        tokens: list[_Token] = []
        starts = _Starts(s)
        pos = 0
        cut = False
        while pos < n:
            self._tick()
            last = tokens[-1] if tokens else None
            if starts.latex_pair_from(pos):
                # Gradio's latex extension takes a match from anywhere ahead and renders it raw.
                self.danger.append((src.at(pos), src.at(n)))
                break
            head = s[pos:pos + 4]
            first = head.lstrip(" ")[:1]
            if first == "`" and s.startswith("```mermaid", pos):
                m = _B_MERMAID.match(s, pos)
                if m:
                    self.danger.append((src.at(pos), src.at(m.end())))
                    tokens.append(_Token("mermaid"))
                    pos = m.end()
                    continue
            if s[pos] in " \n":
                m = _B_NEWLINE.match(s, pos)
                if m and m.end() > pos:
                    if m.end() - pos > 1 or not tokens:
                        tokens.append(_Token("space"))
                    pos = m.end()
                    continue
            if head == "    ":
                m = _B_CODE.match(s, pos)
                if m:
                    if last and last.kind in ("paragraph", "text"):
                        body = _strip_newlines(_dedent(src.cut(pos, m.end())))
                        self.contexts[last.context].append(body)
                    else:
                        self.code.append((src.at(pos), src.at(m.end())))
                        tokens.append(_Token("code"))
                    pos = m.end()
                    continue
            if first in ("`", "~"):
                m = _B_FENCES.match(s, pos)
                if m:
                    self.open = self.open or (self.depth == 0 and m.group(4) is None)
                    if m.group(3):
                        self.code.append((src.at(m.start(3)), src.at(m.end(3))))
                    tokens.append(_Token("code"))
                    pos = m.end()
                    continue
            if first == "#":
                m = _B_HEADING.match(s, pos)
                if m:
                    text = _trim(src.cut(m.start(2), m.end(2)))
                    if text.s.endswith("#"):
                        bare = text.cut(0, len(text.s.rstrip("#")))
                        if not bare.s or bare.s.endswith(" "):
                            text = _trim(bare)
                    tokens.append(_Token("heading", self._push(text)))
                    pos = m.end()
                    continue
            if first in ("-", "_", "*"):
                m = _B_HR.match(s, pos)
                if m:
                    tokens.append(_Token("hr"))
                    pos = m.end()
                    continue
            if first == ">":
                m = _B_BLOCKQUOTE.match(s, pos)
                if m:
                    self._blockquote(src.cut(pos, m.end()))
                    tokens.append(_Token("blockquote"))
                    pos = m.end()
                    continue
            if first in ("-", "*", "+") or "0" <= first <= "9":
                end = self._list(src, pos)
                if end is not None:
                    tokens.append(_Token("list"))
                    pos = end
                    continue
            if first == "<":
                m = _B_HTML.match(s, pos)
                if m:
                    self.danger.append((src.at(pos), src.at(m.end())))
                    tokens.append(_Token("html"))
                    pos = m.end()
                    continue
            if first == "[":
                m = _B_DEF.match(s, pos)
                if m:
                    if last and last.kind in ("paragraph", "text"):
                        self.contexts[last.context].append(src.cut(pos, m.end()))
                    else:
                        self.links.add(SPACES.sub(" ", m[1].lower()))
                    pos = m.end()
                    continue
            line_end = _line_end(s, pos)
            below = s[line_end + 1:line_end + 5].lstrip(" ")[:1]
            if below in ("|", ":", "-"):
                end = self._table(src, pos)
                if end is not None:
                    tokens.append(_Token("table"))
                    pos = end
                    continue
            blank = s.find("\n\n", pos)
            if _UNDERLINE.search(s, pos, n if blank < 0 else blank + 1):
                m = _B_LHEADING.match(s, pos)
                if m:
                    tokens.append(_Token("heading", self._push(src.cut(m.start(1), m.end(1)))))
                    pos = m.end()
                    continue
            if self.top:
                limit = starts.cut_at(pos)
                m = _B_PARAGRAPH.match(s, pos, limit)
                if m:
                    body = src.cut(m.start(1), m.end(1))
                    if cut and last and last.kind == "paragraph":
                        self.contexts[last.context].append(body)
                    else:
                        tokens.append(_Token("paragraph", self._push(body)))
                    cut = limit != n
                    pos = m.end()
                    continue
            m = _B_TEXT.match(s, pos)
            if m:
                body = src.cut(pos, m.end())
                if last and last.kind == "text":
                    self.contexts[last.context].append(body)
                else:
                    tokens.append(_Token("text", self._push(body)))
                pos = m.end()
                continue
            raise AssertionError(f"no block rule at {pos}: {s[pos:pos + 20]!r}")
        self.top = True

    def _blockquote(self, raw: _M) -> None:
        lines = []
        for i, line in enumerate(_lines(raw)):
            setext = _SETEXT_LINE.fullmatch(line.s) if i else None
            if setext:
                line = _M("    ", [-1] * 4) + line.cut(setext.start(1))
            mark = _QUOTE_MARK.match(line.s)
            lines.append(line.cut(mark.end()) if mark else line)
        self._tick(len(lines))
        top, self.top = self.top, True
        self.depth += 1
        self.blocks(_strip_newlines(_joined(lines)))
        self.depth -= 1
        self.top = top

    def _list(self, src: _M, pos: int) -> int | None:
        """marked's list tokenizer: the items' texts are lexed as blocks; returns the list's end."""
        s = src.s
        first = _B_LIST.match(s, pos)
        if not first:
            return None
        item_re = _item_pattern(first[1].strip(_JS_SPACE_CHARS))
        start, items = pos, []
        while pos < len(s):
            self._tick()
            m = item_re.match(s, pos)
            if not m or _B_HR.match(s, pos):
                break
            pos = m.end()
            r = _tabs_as_three(src.cut(m.start(2), _line_end(s, m.start(2))))
            nxt = s[pos:_line_end(s, pos)]
            indent = _search_non_space(m[2])
            indent = 1 if indent > 4 else indent
            text = [r.cut(indent) if indent >= 0 else r.cut(len(r.s) - 1 if r.s else 0)]
            indent += len(m[1])
            if not r.s and not nxt.strip(" "):
                pos = min(pos + len(nxt) + 1, len(s))
            else:
                more, pos = self._item_lines(src, pos, indent, r.s)
                text.extend(more)
            task = _TASK.match(text[0].s)
            if task:
                text[0] = text[0].cut(task.end())
            items.append(text)
        if not items:
            return None
        raw_end = pos
        while raw_end > start and s[raw_end - 1] in _JS_SPACE_CHARS:
            raw_end -= 1
        for k, pieces in enumerate(items):
            item = _joined(pieces)
            if k == len(items) - 1:
                item = item.cut(0, len(item.s.rstrip(_JS_SPACE_CHARS)))
            self.top = False
            self.depth += 1
            self.blocks(item)
            self.depth -= 1
        return raw_end

    def _item_lines(self, src: _M, pos: int, indent: int, prev: str) -> tuple[list[_M], int]:
        """The lines that continue a list item, and where the item ends."""
        s = src.s
        bullet, hr, fence, heading = _item_stops(min(3, indent - 1))
        out: list[_M] = []
        blank = False
        while pos < len(s):
            self._tick()
            end = _line_end(s, pos)
            line = s[pos:end]
            if fence.match(line) or heading.match(line) or bullet.match(line) or hr.match(s, pos):
                break
            if _search_non_space(line) >= indent or not line.strip(_JS_SPACE_CHARS):
                out.append(src.cut(pos + min(indent, len(line)), end))
            else:
                if (blank or _search_non_space(prev) >= 4 or fence.match(prev) or heading.match(prev)
                        or hr.match(prev)):
                    break
                out.append(src.cut(pos, end))
            if not blank and not line.strip(_JS_SPACE_CHARS):
                blank = True
            pos = min(end + 1, len(s))
            prev = line[indent:]
        return out, pos

    def _table(self, src: _M, pos: int) -> int | None:
        s = src.s
        m = _B_TABLE.match(s, pos)
        if not m or not re.search(r"[:|]", m[2]):
            return None
        header = _cells(src.cut(m.start(1), m.end(1)))
        if len(header) != len(re.sub(r"^\||\| *$", "", m[2]).split("|")):
            return None
        rows: list[_M] = []
        if m.group(3) and m[3].strip(_JS_SPACE_CHARS):
            body = src.cut(m.start(3), m.end(3))
            trail = re.search(r"\n[ \t]*\Z", body.s)
            rows = _lines(body.cut(0, trail.start()) if trail else body)
        for cell in header:
            self._push(cell)
        for row in rows:
            self._tick()
            for cell in _cells(row, len(header)):
                self._push(cell)
        return m.end()

    # -- inline ---------------------------------------------------------------------------------

    def inline(self, m: _M) -> None:
        """marked's inlineTokens, without emphasis (see _emphasis_may_cut)."""
        s = m.s
        spans: list[tuple[int, int]] = []
        pos = 0
        while pos < len(s):
            self._tick()
            c = s[pos]
            t: re.Match[str] | None = None
            if c == "\\":
                t = _I_ESCAPE.match(s, pos)
                if t:
                    pos = t.end()
                    continue
            elif c == "<":
                t = _I_TAG.match(s, pos)
                if t:
                    self.danger.append((m.at(pos), m.at(t.end())))
                    pos = t.end()
                    continue
            elif c in ("[", "!"):
                end = self._link(m, pos)
                if end is None:
                    end = self._reflink(m, pos)
                if end is not None:
                    pos = end
                    continue
            elif c == "`":
                t = _I_CODE.match(s, pos)
                if t:
                    spans.append((pos, t.end()))
                    pos = t.end()
                    continue
            if c in (" ", "\\", "\n"):
                t = _I_BR.match(s, pos)
                if t:
                    pos = t.end()
                    continue
            if c == "~":
                t = _I_DEL.match(s, pos)
                if t:
                    self.inline(m.cut(t.start(2), t.end(2)))
                    pos = t.end()
                    continue
            if c == "<":
                t = AUTOLINK.match(s, pos)
                if t:
                    pos = t.end()
                    continue
            if not self.in_link and c in _URL_START:
                t = _I_URL.match(s, pos)
                if t:
                    pos += len(t[0]) if t.group(2) == "@" else _backpedalled(t[0])
                    continue
            t = _I_TEXT.match(s, pos)
            if t:
                pos = t.end()
                continue
            raise AssertionError(f"no inline rule at {pos}: {s[pos:pos + 20]!r}")
        self.code.extend((m.at(a), m.at(b)) for a, b in spans)
        risky = [(a, b) for a, b in spans if DANGER.search(s, a, b)]
        if risky and self._emphasis_may_cut(s, spans):
            self.danger.extend((m.at(a), m.at(b)) for a, b in risky)

    def _emphasis_may_cut(self, s: str, spans: list[tuple[int, int]]) -> bool:
        """marked's emphasis looks for its closing `*`/`_` in a copy of the text where code spans
        are masked by a simpler rule; a code span with `*`/`_` that it does not mask exactly
        could be cut, and every code span after it read differently."""
        suspects = [(a, b) for a, b in spans if "*" in s[a:b] or "_" in s[a:b]]
        if not suspects:
            return False
        masked = _masked(s, _REFLINK_SEARCH, self._defined) if self.links else s
        covered = {(t.start(), t.end()) for t in _I_SKIP.finditer(masked) if t[0][0] == "`"}
        return any(span not in covered for span in suspects)

    def _defined(self, match: re.Match[str]) -> bool:
        raw = match[0]
        return raw[raw.rfind("[") + 1:-1] in self.links

    def _link(self, m: _M, pos: int) -> int | None:
        s = m.s
        t = LINK.match(s, pos)
        if not t:
            return None
        end = t.end()
        href = t[2].strip(_JS_SPACE_CHARS)
        if href.startswith("<"):
            if not href.endswith(">") or (len(href) - len(href[:-1].rstrip("\\"))) % 2 == 0:
                return None
        else:
            cut = _unbalanced_paren(t[2])
            if cut > -1:
                end = pos + len(s[pos:pos + (5 if s[pos] == "!" else 4) + len(t[1]) + cut]
                                .strip(_JS_SPACE_CHARS))
        if s[pos] == "!":
            self.danger.append((m.at(pos), m.at(end)))
        else:
            self._label(m.cut(t.start(1), t.end(1)))
        return end

    def _reflink(self, m: _M, pos: int) -> int | None:
        s = m.s
        t = REFLINK.match(s, pos) or _NOLINK.match(s, pos)
        if not t:
            return None
        ref = t[2] if t.re is REFLINK else t[1]
        if SPACES.sub(" ", ref).lower() not in self.links:
            return pos + 1
        if s[pos] == "!":
            self.danger.append((m.at(pos), m.at(t.end())))
        else:
            self._label(m.cut(t.start(1), t.end(1)))
        return t.end()

    def _label(self, label: _M) -> None:
        """A link's text, lexed again with `\\[` and `\\]` unescaped."""
        if "\\" in label.s:
            keep = [i for i, c in enumerate(label.s)
                    if not (c == "\\" and i + 1 < len(label.s) and label.s[i + 1] in "[]")]
            if len(keep) != len(label.s):
                o = label.o
                label = _M("".join(label.s[i] for i in keep), [o[i] for i in keep])
        self.in_link = True
        self.inline(label)
        self.in_link = False


_ITEM_PATTERNS: dict[str, re.Pattern[str]] = {}
_ITEM_STOPS: dict[int, tuple[re.Pattern[str], ...]] = {}


def _item_pattern(bullet: str) -> re.Pattern[str]:
    """The line that starts another item of the same list."""
    key = "1" + bullet[-1] if len(bullet) > 1 else bullet
    if key not in _ITEM_PATTERNS:
        marker = r"\d{1,9}" + re.escape(bullet[-1]) if len(bullet) > 1 else re.escape(bullet)
        _ITEM_PATTERNS[key] = re.compile(r"( {0,3}" + marker + r")((?:[\t ][^\n]*)?(?:\n|\Z))")
    return _ITEM_PATTERNS[key]


def _item_stops(cap: int) -> tuple[re.Pattern[str], ...]:
    """The lines that end a list item: another bullet, a rule, a fence, a heading."""
    if cap not in _ITEM_STOPS:
        if cap < 0:
            _ITEM_STOPS[cap] = (_NEVER,) * 4
        else:
            _ITEM_STOPS[cap] = (
                re.compile(rf" {{0,{cap}}}(?:[*+-]|\d{{1,9}}[.)])((?:[ \t][^\n]*)?(?:\n|\Z))"),
                re.compile(rf" {{0,{cap}}}((?:- *){{3,}}|(?:_ *){{3,}}|(?:\* *){{3,}})(?:\n+|\Z)"),
                re.compile(rf" {{0,{cap}}}(?:```|~~~)"),
                re.compile(rf" {{0,{cap}}}#"))
    return _ITEM_STOPS[cap]


def _line_end(s: str, pos: int) -> int:
    end = s.find("\n", pos)
    return len(s) if end < 0 else end


def _strip_newlines(m: _M) -> _M:
    return m.cut(0, len(m.s.rstrip("\n")))


def _expand_tabs(m: _M) -> _M:
    """marked turns tabs after a line's leading spaces into four spaces each."""
    pieces: list[_M] = []
    last = 0
    for t in _TABS.finditer(m.s):
        pieces.append(m.cut(last, t.start(2)))
        pieces.extend(_M("    ", [m.o[i]] * 4) for i in range(t.start(2), t.end(2)))
        last = t.end(2)
    pieces.append(m.cut(last))
    return _joined(pieces, "")


def _tabs_as_three(m: _M) -> _M:
    """A list item's first line: its leading tabs count three spaces each."""
    n = len(m.s) - len(m.s.lstrip("\t"))
    if not n:
        return m
    return _M(" " * (3 * n), [o for o in m.o[:n] for _ in range(3)]) + m.cut(n)


def _dedent(m: _M) -> _M:
    """An indented code block's text: up to four spaces off each line."""
    out = []
    for line in _lines(m):
        k = len(line.s[:4]) - len(line.s[:4].lstrip(" "))
        out.append(line.cut(k))
    return _joined(out)


def _cells(row: _M, count: int = 0) -> list[_M]:
    """marked's splitCells: the text between unescaped pipes, trimmed, with `\\|` unescaped."""
    s = row.s
    bounds = [-1]
    for i, c in enumerate(s):
        if c == "|":
            j = i
            while j > 0 and s[j - 1] == "\\":
                j -= 1
            if (i - j) % 2 == 0:
                bounds.append(i)
    bounds.append(len(s))
    cells: list[_M] = [row.cut(a + 1, b) for a, b in pairwise(bounds)]
    if cells and not cells[0].s.strip(_JS_SPACE_CHARS):
        cells.pop(0)
    if cells and not cells[-1].s.strip(_JS_SPACE_CHARS):
        cells.pop()
    if count:
        cells = cells[:count] + [_M("", [])] * (count - len(cells))
    out = []
    for cell in cells:
        cell = _trim(cell)
        keep = [i for i, c in enumerate(cell.s) if not (c == "\\" and cell.s[i + 1:i + 2] == "|")]
        if len(keep) != len(cell.s):
            cell = _M("".join(cell.s[i] for i in keep), [cell.o[i] for i in keep])
        out.append(cell)
    return out


def _unbalanced_paren(href: str) -> int:
    """marked's findClosingBracket(href, "()"): the index of the first unbalanced `)`."""
    if ")" not in href:
        return -1
    depth, i = 0, 0
    while i < len(href):
        c = href[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return i
        i += 1
    return -1


def _backpedalled(url: str) -> int:
    """The length of a GFM autolink once marked has dropped its trailing punctuation."""
    while True:
        t = _I_BACKPEDAL.search(url)
        shorter = t[0] if t else ""
        if shorter == url:
            return len(url)
        url = shorter


def _masked(s: str, pattern: re.Pattern[str], keep: Callable[[re.Match[str]], bool]) -> str:
    parts, last = [], 0
    for t in pattern.finditer(s):
        if keep(t):
            parts.append(s[last:t.start()])
            parts.append("[" + "a" * (len(t[0]) - 2) + "]")
            last = t.end()
    parts.append(s[last:])
    return "".join(parts)


class _Starts:
    """Gradio's latex extension in one lexed text: where it cuts paragraphs, whether it fires."""

    def __init__(self, s: str) -> None:
        self.s, self.size = s, len(s)
        self.idle = "$$" not in s and "\\" not in s and "```mermaid" not in s
        self.lefts = [[] if self.idle else [m.start() for m in re.finditer(re.escape(left), s)]
                      for left, _ in LATEX_DELIMITERS]
        self.threshold = -1  # from here on, no delimiter pair is left ahead
        for (left, right), lefts in zip(LATEX_DELIMITERS, self.lefts, strict=True):
            latest = s.rfind(right) - len(left) - 1  # the last left delimiter with a right one after it
            i = bisect_right(lefts, latest)
            if i:
                self.threshold = max(self.threshold, lefts[i - 1])

    def cut_at(self, pos: int) -> int:
        """Where a paragraph starting at pos is cut: before the first delimiter (of the first
        kind that occurs) after pos, or before "```mermaid" on the next character."""
        limit = self.size
        if self.idle:
            return limit
        if _B_MERMAID_START.match(self.s, pos + 1):
            limit = pos + 1
        for lefts in self.lefts:
            i = bisect_left(lefts, pos + 1)
            if i < len(lefts):
                return min(limit, lefts[i])
        return limit

    def latex_pair_from(self, pos: int) -> bool:
        return pos <= self.threshold
