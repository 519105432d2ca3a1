"""A run taken home (ui/testing/report.py, report_html.py): the CSV opens in Excel with the right
columns and nothing Excel would run; the JSONL keeps every field; the HTML report opens offline,
shows hostile answers as text and fetches nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import make_image
from ui.choices import Choices
from ui.records import AnswerRecord
from ui.testing.cells import Cell, Item, Rating, Run, Variant
from ui.testing.report import COLUMNS, write_csv, write_jsonl
from ui.testing.report_html import write_html
from ui.testing.stats import summarize

HOSTILE = ('<script>alert("x")</script><img src=http://evil.example/t.gif onerror=alert(1)>'
           '<style>body{background:url(https://evil.example/bg)}</style><a href="javascript:alert(2)">x</a>'
           "</td></tr></table><iframe src=//evil.example>")


def _run() -> Run:
    items = (Item("a" * 64, "收据.jpg", "总金额是多少？", "128 元"),
             Item("b" * 64, "shelf.png", "How many bottles, exactly?", "=SUM(A1:A9)"),
             Item("a" * 64, "收据.jpg", "Which shop?", ""))
    variants = (Variant(Choices(model="glm-4.5v", temperature=0.2, thinking=None)),
                Variant(Choices(model="glm-4.1v-thinking", max_tokens=4096), "thinking, long"))
    return Run(7, "Receipts, November", "tester", "2026-11-27T09:00:00Z", items, variants, "done")


def _record(model: str, **changes: object) -> AnswerRecord:
    base = {"prompt_tokens": 1234, "completion_tokens": 56, "first_token_s": 0.8123, "total_s": 3.4567,
            "finish": "stop", "at": "2026-11-27T09:01:00Z"}
    return AnswerRecord(model, Choices(model=model, temperature=0.2, thinking=None), **{**base, **changes})


def _cells() -> list[Cell]:
    return [
        Cell(1, 7, 0, 0, "done", "共 128 元,含税。\n第二行 \"引号\"", "先找总计行", _record("glm-4.5v"),
             rating=Rating(1, (), "对", "li", "2026-11-27T10:00:00Z")),
        Cell(2, 7, 0, 1, "done", HOSTILE, "<b>thinking</b>", _record("glm-4.1v-thinking"),
             rating=Rating(-1, ("misread_text", "invented_object"), "-2 bottles missed; @team", "wang")),
        Cell(3, 7, 1, 0, "done", "=HYPERLINK(\"http://evil.example\",\"click\")", "", _record("glm-4.5v")),
        Cell(4, 7, 1, 1, "failed", error="rate_limited", attempts=3),
        Cell(5, 7, 2, 0, "done", "+1 shop", "", _record("glm-4.5v", first_token_s=None)),
        Cell(6, 7, 2, 1, "pending"),
    ]


def _csv(lang: str = "en", cells: list[Cell] | None = None) -> tuple[bytes, list[list[str]]]:
    out = io.BytesIO()
    assert write_csv(out, _run(), iter(cells or _cells()), lang) == len(cells or _cells())
    data = out.getvalue()
    return data, list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_opens_in_excel_with_a_bom_and_the_columns_a_tester_expects() -> None:
    data, rows = _csv()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Chinese as Chinese
    assert b"\r\n" in data
    header = rows[0]
    assert header[:7] == ["Run", "Image", "Image SHA-256", "Question", "Expected", "Variant", "Model"]
    assert {"Temperature", "Max tokens", "System prompt", "Thinking on", "Answer", "Thinking", "Status",
            "Error", "Rating", "Reasons", "Note", "Rated by", "Prompt tokens", "Answer tokens",
            "First token (s)", "Total (s)", "Ended"} <= set(header)
    assert len(rows) == 1 + 6 and all(len(r) == len(COLUMNS) for r in rows)
    first = dict(zip(header, rows[1], strict=True))
    assert first["Run"] == "Receipts, November" and first["Image"] == "收据.jpg"
    assert first["Image SHA-256"] == "a" * 64 and first["Variant"] == "glm-4.5v"
    assert first["Answer"] == "共 128 元,含税。\n第二行 \"引号\""  # commas, quotes, line breaks survive
    assert (first["Rating"], first["Note"], first["Rated by"]) == ("good", "对", "li")
    assert (first["Prompt tokens"], first["First token (s)"], first["Total (s)"]) == (
        "1234", "0.812", "3.457")
    assert first["Temperature"] == "0.2" and first["Thinking on"] == "" and first["Ended"] == "stop"
    second = dict(zip(header, rows[2], strict=True))
    assert (second["Variant"], second["Model"], second["Rating"]) == (
        "thinking, long", "glm-4.1v-thinking", "bad")
    assert second["Reasons"] == "Misread text; Invented object"
    failed = dict(zip(header, rows[4], strict=True))
    assert failed["Status"] == "failed"
    assert failed["Error"] == "The endpoint is busy or rate-limiting this key: wait a moment and press Retry."
    assert failed["Max tokens"] == "4096" and failed["Prompt tokens"] == ""
    assert dict(zip(header, rows[6], strict=True))["Status"] == "not asked yet"


def test_csv_text_excel_would_run_as_a_formula_gets_an_apostrophe() -> None:
    _, rows = _csv()
    header = rows[0]
    cell = {name: dict(zip(header, r, strict=True)) for name, r in zip(("a", "b", "c", "d", "e", "f"),
                                                                       rows[1:], strict=True)}
    assert cell["c"]["Answer"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert cell["c"]["Expected"] == "'=SUM(A1:A9)"
    assert cell["b"]["Note"] == "'-2 bottles missed; @team"
    assert cell["e"]["Answer"] == "'+1 shop"
    tab = _cells()[:1]
    tab[0].answer = "\t=1+1"
    assert dict(zip(header, _csv(cells=tab)[1][1], strict=True))["Answer"] == "'\t=1+1"
    for row in rows[1:]:  # nothing else starts like a formula
        assert not [v for v in row if v[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_csv_headers_and_words_in_chinese() -> None:
    _, rows = _csv("zh")
    assert rows[0][:5] == ["运行", "图片", "图片 SHA-256", "问题", "期望答案"]
    second = dict(zip(rows[0], rows[2], strict=True))
    assert (second["评分"], second["原因"]) == ("差", "文字识别错误; 虚构了物体")


def test_csv_cuts_a_field_longer_than_an_excel_cell_and_says_so() -> None:
    long = _cells()[:1]
    long[0].answer = "字" * 40_000
    answer = dict(zip(*(_csv(cells=long)[1]), strict=True))["Answer"]
    assert len(answer) <= 32_767
    assert answer.endswith("[cut here: 40000 characters in all; the JSONL export has the whole text]")


def test_csv_is_written_row_by_row_to_the_file() -> None:
    out, sizes = io.BytesIO(), []  # how much the file holds when each next cell is asked for

    def cells():
        for cell in _cells():
            sizes.append(len(out.getvalue()))
            yield cell

    write_csv(out, _run(), cells(), "en")
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert not out.closed  # left open for the caller


def test_jsonl_one_full_object_per_cell() -> None:
    out = io.BytesIO()
    assert write_jsonl(out, _run(), _cells(), "en") == 6
    lines = out.getvalue().decode("utf-8").splitlines()
    objects = [json.loads(line) for line in lines]
    assert len(objects) == 6
    first, hostile, _, failed = objects[:4]
    assert first["run"] == {"id": 7, "title": "Receipts, November"}
    assert first["image"] == {"name": "收据.jpg", "sha256": "a" * 64}
    assert first["question"] == "总金额是多少？" and first["expected"] == "128 元"
    assert first["record"]["prompt_tokens"] == 1234 and first["record"]["first_token_s"] == 0.8123
    assert first["thinking"] == "先找总计行" and first["choices"]["model"] == "glm-4.5v"
    assert hostile["answer"] == HOSTILE  # the JSONL is the full record, as the model wrote it
    assert hostile["rating"] == {"verdict": -1, "reasons": ["misread_text", "invented_object"],
                                 "note": "-2 bottles missed; @team", "who": "wang", "at": ""}
    assert failed["error"] == "rate_limited" and failed["attempts"] == 3 and failed["record"] is None
    assert "busy" in failed["error_sentence"]


# --- the HTML report -------------------------------------------------------------------------------


class Page(HTMLParser):
    """What a browser would see: tags, attributes, text and style sheets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in: str = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]
        self._in = tag

    def handle_endtag(self, tag):
        self._in = ""

    def handle_data(self, data):
        (self.styles if self._in == "style" else self.text).append(data)


@pytest.fixture
def thumbnails(tmp_path: Path) -> dict[str, bytes]:
    jpeg = make_image(tmp_path / "t.jpg", fmt="JPEG").read_bytes()
    return {"a" * 64: jpeg, "b" * 64: b"<svg onload=alert(1)>"}  # a non-image is not embedded


def _html(thumbnails: dict[str, bytes], lang: str = "en") -> tuple[str, Page]:
    out = io.BytesIO()
    run, cells = _run(), _cells()
    write_html(out, run, iter(cells), thumbnails, lang, summaries=summarize(run, cells))
    text = out.getvalue().decode("utf-8")
    page = Page()
    page.feed(text)
    return text, page


def test_html_report_fetches_nothing_and_runs_nothing(thumbnails: dict[str, bytes]) -> None:
    text, page = _html(thumbnails)
    assert "script" not in page.tags and "iframe" not in page.tags and "<script" not in text
    assert not [t for t in page.tags if t in ("img", "a", "link", "object", "embed", "base", "form")]
    urls = [v for _, v in page.attrs] + page.styles
    assert not [u for u in urls if re.search(r"https?:|//evil|javascript:", u)]
    assert not [k for k, _ in page.attrs if k.startswith("on")]
    [csp] = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', text)
    assert "default-src 'none'" in csp and "img-src data:" in csp and "http" not in csp
    assert page.tags.count("style") == 1  # only the report's own style sheet


def test_html_report_shows_hostile_answers_as_text(thumbnails: dict[str, bytes]) -> None:
    text, page = _html(thumbnails)
    shown = "".join(page.text)
    assert HOSTILE in shown  # a tester sees exactly what the model wrote
    assert "<b>thinking</b>" in shown and "&lt;script&gt;" in text


def test_html_report_summary_reasons_and_grid(thumbnails: dict[str, bytes]) -> None:
    text, page = _html(thumbnails)
    shown = " ".join(page.text)
    assert "Test run: Receipts, November" in shown
    assert "Rated good (95 % interval)" in shown
    assert re.search(r"100 % \(\d+–100 %\)", shown)  # glm-4.5v: its one rating was good
    assert "Misread text" in shown and "Invented object" in shown and "1 of 1" in shown
    assert "The endpoint is busy or rate-limiting this key" in shown
    assert "收据.jpg" in shown and "总金额是多少？" in shown and "128 元" in shown
    assert "thinking, long" in shown and "1234 + 56 tokens" in shown
    # Two variants of a run are told apart by their choices, not only by their labels.
    assert "glm-4.5v · temperature 0.2 · thinking as the endpoint decides" in shown
    assert "glm-4.1v-thinking · max 4096 tokens" in shown
    # The receipt's thumbnail is embedded once although two rows ask about it; the SVG is not.
    assert len(re.findall(r"data:image/jpeg;base64,", text)) == 1
    assert "data:image/svg" not in text
    assert [v for k, v in page.attrs if k == "aria-label"] == ["收据.jpg", "收据.jpg"]


def test_html_report_in_chinese(thumbnails: dict[str, bytes]) -> None:
    text, page = _html(thumbnails, "zh")
    shown = " ".join(page.text)
    assert '<html lang="zh-CN">' in text
    assert "测试运行：Receipts, November" in shown and "评为好的比例（95% 区间）" in shown


def test_html_report_reads_the_cells_once_when_given_the_summary(thumbnails: dict[str, bytes]) -> None:
    run = _run()
    once = iter(_cells())
    out = io.BytesIO()
    write_html(out, run, once, thumbnails, "en", summaries=summarize(run, _cells()))
    assert out.getvalue().count(b"<tr>") >= 1 + 3  # header and three rows of the grid
    assert next(once, None) is None
    out = io.BytesIO()  # without a summary it reads them itself
    write_html(out, run, iter(_cells()), {}, "en")
    assert b"100 %" in out.getvalue()
