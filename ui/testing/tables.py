"""A tester's table of questions (CSV or XLSX) read into rows: which column is the image, the
question and the expected answer (headers in English or Chinese), in whatever encoding and
delimiter Excel wrote it. Pure: bytes in, rows and problems out; ui/testing/testset.py matches
the rows to the images."""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from ui.i18n import say

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
OLD_SPREADSHEETS = (".xls", ".ods", ".numbers", ".et")
MAX_TABLE_BYTES = 20 * 1024 * 1024
MAX_XLSX_UNPACKED = 200 * 1024 * 1024  # an .xlsx is a zip: refuse one that unpacks past this
MAX_ROWS = 20_000
DELIMITERS = (",", ";", "\t", "|", "，")

# Header names a tester may use for each column, compared without case, spaces, _ - * : ( ) .
HEADERS = {
    "image": ("image", "images", "img", "imagename", "imagefile", "file", "filename", "files",
              "path", "imagepath", "picture", "photo", "图片", "图像", "文件", "文件名", "图片名",
              "图片名称", "图片文件", "图片文件名", "文件名称", "图片路径", "照片"),
    "question": ("question", "questions", "prompt", "prompts", "query", "ask", "问题", "提问",
                 "提示", "提示词", "问句", "题目"),
    "expected": ("expected", "expectedanswer", "expectedoutput", "answer", "reference",
                 "referenceanswer", "groundtruth", "gt", "target", "label", "note", "notes",
                 "comment", "comments", "期望答案", "预期答案", "期望", "预期", "答案", "参考答案",
                 "标准答案", "正确答案", "备注", "说明", "注释", "批注"),
}
_ROLE_OF = {name: role for role, names in HEADERS.items() for name in names}


@dataclass(frozen=True)
class Problem:
    """One thing the tester should know about what they dropped: a sentence key and its values."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return say(lang, self.key, self.params)


@dataclass(frozen=True)
class Row:
    """One row of the table as the tester numbers it (the header is row 1, as in Excel)."""

    number: int
    image: str | None  # None: the table has no image column (each question is for every image)
    question: str
    expected: str = ""


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_table(name: str, data: bytes) -> Table:
    """The rows of a CSV/TSV/XLSX file; a problem (and no rows) when it cannot be read at all."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in OLD_SPREADSHEETS:
        return Table(problems=[Problem("testset_table_old_format", {"name": name})])
    if len(data) > MAX_TABLE_BYTES:
        return Table(problems=[Problem("testset_table_too_big",
                                       {"name": name, "limit": MAX_TABLE_BYTES // 2**20})])
    if suffix in (".xlsx", ".xlsm") or data.startswith(b"PK\x03\x04"):
        records = _xlsx_records(name, data)
    else:
        text = _decode(data)
        if text is None:
            return Table(problems=[Problem("testset_table_encoding", {"name": name})])
        records = _csv_records(text)
    if isinstance(records, Problem):
        return Table(problems=[records])
    return _rows(name, records)


def _decode(data: bytes) -> str | None:
    """UTF-8 (with or without BOM), UTF-16 with its BOM (Excel's "Unicode text"), else GB18030
    (a superset of the GBK that Chinese Excel writes)."""
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _csv_records(text: str) -> list[list[str]]:
    """The delimiter that makes the first row a header we know, else the one csv sniffs."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    for delimiter in DELIMITERS:
        if "question" in _roles(next(csv.reader([first], delimiter=delimiter), [])):
            return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    try:
        dialect: Any = csv.Sniffer().sniff(text[:16_384], delimiters="".join(DELIMITERS))
    except csv.Error:  # one column, or too little to tell: commas
        dialect = csv.excel
    return list(csv.reader(io.StringIO(text, newline=""), dialect))


def _xlsx_records(name: str, data: bytes) -> list[list[str]] | Problem:
    """The first sheet's values (as Excel shows them), after checking the archive is no bomb."""
    import openpyxl  # only when a tester loads an .xlsx

    unreadable = Problem("testset_table_unreadable", {"name": name})
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_XLSX_UNPACKED:
                return Problem("testset_table_too_big", {"name": name, "limit": MAX_TABLE_BYTES // 2**20})
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        return unreadable
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            return unreadable
        rows = itertools.islice(sheet.iter_rows(values_only=True), MAX_ROWS + 2)
        return [[_cell_text(v) for v in row] for row in rows]
    except Exception:
        return unreadable
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _normal(header: str) -> str:
    return re.sub(r"[\s_\-*:：()（）.。]+", "", header.lower().lstrip("\ufeff"))


def _roles(header: list[str]) -> dict[str, int]:
    """Column index of each role the header names (the first column that names it)."""
    roles: dict[str, int] = {}
    for index, cell in enumerate(header):
        role = _ROLE_OF.get(_normal(cell))
        if role and role not in roles:
            roles[role] = index
    return roles


def _rows(name: str, records: list[list[str]]) -> Table:
    table = Table()
    numbered = [(n, r) for n, r in enumerate(records, start=1) if any(c.strip() for c in r)]
    if not numbered:
        table.problems.append(Problem("testset_table_empty", {"name": name}))
        return table
    header = numbered[0][1]
    roles = _roles(header)
    if "question" not in roles:
        if max(len(r) for _, r in numbered) == 1:  # one plain column: a list of questions
            roles, body = {"question": 0}, numbered
        else:
            table.problems.append(Problem("testset_table_no_header", {"name": name}))
            return table
    else:
        body = numbered[1:]
    if len(body) > MAX_ROWS:
        table.problems.append(Problem("testset_table_too_many_rows", {"name": name, "limit": MAX_ROWS}))
        body = body[:MAX_ROWS]
    for number, record in body:
        def cell(role: str, record: list[str] = record) -> str:
            index = roles.get(role)
            return record[index].strip() if index is not None and index < len(record) else ""
        table.rows.append(Row(number, cell("image") if "image" in roles else None,
                              cell("question"), cell("expected")))
    return table


def lines(text: str) -> Iterator[tuple[int, str]]:
    """Typed questions: one per line, blank lines left out; (line number, question)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line.strip()
