"""A run's results taken home: CSV (for Excel), JSONL (every field, for scripts) and one
self-contained HTML report (ui/testing/report_html.py). Each writer takes a binary file object and
the cells as an iterable (e.g. the store's each_cell) and writes row by row, so a large run is
never one string in memory.

The CSV opens in Excel as it is: UTF-8 with a byte-order mark (else Excel reads it as the
machine's code page and Chinese turns to mojibake), quoted where a field holds a comma, a quote
or a line break, headers in the chosen language. Text that Excel would take for a formula (a
model's answer or a tester's note starting with = + - @, a tab or a carriage return) gets a
leading apostrophe; a field longer than Excel's 32,767-character cell is cut there with a note
(the JSONL keeps it whole).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from ui.choices import Choices
from ui.i18n import say
from ui.testing.cells import REASONS, Cell, Run

COLUMNS = ("run", "image", "sha256", "question", "expected", "variant", "model",
           *(f"choice_{name}" for name in Choices.names() if name != "model"),
           "answer", "thinking", "status", "error", "rating", "reasons", "note", "rater",
           "prompt_tokens", "completion_tokens", "first_token_s", "total_s", "finish", "asked_at")
EXCEL_CELL = 32_767
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_csv(out: IO[bytes], run: Run, cells: Iterable[Cell], lang: str) -> int:
    """One row per cell, headers in `lang`; the number of rows written."""
    count = 0
    with utf8_text(out) as text:
        text.write("\ufeff")
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow([say(lang, f"report_col_{name}") for name in COLUMNS])
        for cell in cells:
            values = row_values(run, cell, lang)
            writer.writerow([_excel(values[name], lang) for name in COLUMNS])
            count += 1
    return count


def write_jsonl(out: IO[bytes], run: Run, cells: Iterable[Cell], lang: str) -> int:
    """One JSON object per line and cell, with every field (answers never cut)."""
    count = 0
    with utf8_text(out) as text:
        for cell in cells:
            text.write(json.dumps(cell_json(run, cell, lang), ensure_ascii=False) + "\n")
            count += 1
    return count


def cell_json(run: Run, cell: Cell, lang: str) -> dict[str, Any]:
    item = run.items[cell.row] if 0 <= cell.row < len(run.items) else None
    variant = run.variants[cell.variant] if 0 <= cell.variant < len(run.variants) else None
    rating = cell.rating
    return {
        "run": {"id": run.id, "title": run.title},
        "cell": cell.id, "row": cell.row, "variant": cell.variant,
        "image": {"name": item.name, "sha256": item.image} if item else None,
        "question": item.question if item else None,
        "expected": item.expected if item else None,
        "variant_label": variant.name if variant else None,
        "choices": ({"model": variant.choices.model} | _choices(variant.choices)) if variant else None,
        "status": cell.status, "answer": cell.answer, "thinking": cell.thinking,
        "record": cell.record.as_json() if cell.record else None,
        "error": cell.error or None, "error_params": cell.error_params or None,
        "error_sentence": say(lang, cell.error, cell.error_params) if cell.error else None,
        "attempts": cell.attempts,
        "rating": {"verdict": rating.verdict, "reasons": list(rating.reasons), "note": rating.note,
                   "who": rating.who, "at": rating.at} if rating else None,
    }


def row_values(run: Run, cell: Cell, lang: str) -> dict[str, Any]:
    """The CSV columns of one cell (numbers as numbers, text as the reader should see it)."""
    item = run.items[cell.row] if 0 <= cell.row < len(run.items) else None
    variant = run.variants[cell.variant] if 0 <= cell.variant < len(run.variants) else None
    record, rating = cell.record, cell.rating
    choices = record.choices if record else variant.choices if variant else Choices()
    values: dict[str, Any] = {
        "run": run.title or run.id, "image": item.name if item else "", "sha256": item.image if item else "",
        "question": item.question if item else "", "expected": item.expected if item else "",
        "variant": variant.name if variant else "",
        "model": record.model if record else variant.choices.model if variant else "",
        **{f"choice_{k}": v for k, v in _choices(choices).items()},
        "answer": cell.answer, "thinking": cell.thinking,
        "status": say(lang, f"report_status_{cell.status}"),
        "error": say(lang, cell.error, cell.error_params) if cell.error else "",
        "rating": "" if rating is None else say(lang, "report_good" if rating.verdict > 0 else "report_bad"),
        "reasons": "; ".join(reason_label(r, lang) for r in rating.reasons) if rating else "",
        "note": rating.note if rating else "", "rater": rating.who if rating else "",
        "prompt_tokens": record.prompt_tokens if record else None,
        "completion_tokens": record.completion_tokens if record else None,
        "first_token_s": _seconds(record.first_token_s) if record else None,
        "total_s": _seconds(record.total_s) if record else None,
        "finish": (record.finish or "") if record else "", "asked_at": record.at if record else "",
    }
    return values


def reason_label(reason: str, lang: str) -> str:
    """A reason's words; a reason this version does not know is shown as its key."""
    return say(lang, f"reason_{reason}") if reason in REASONS else reason


def _choices(choices: Choices) -> dict[str, Any]:
    values = {name: getattr(choices, name) for name in Choices.names() if name != "model"}
    values["thinking"] = "" if values["thinking"] is None else values["thinking"]
    return values


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _excel(value: Any, lang: str) -> Any:
    """What Excel shows as written: no formulas from text, no cell past Excel's limit."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if not isinstance(value, str):
        return value
    if len(value) > EXCEL_CELL:
        value = value[:EXCEL_CELL - 200] + "\n" + say(lang, "report_cut", {"count": len(value)})
    return "'" + value if value.startswith(FORMULA_START) else value


@contextmanager
def utf8_text(out: IO[bytes]) -> Iterator[io.TextIOWrapper]:
    """`out` as UTF-8 text with no newline translation, left open for the caller."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)  # type: ignore[type-var]
    try:
        yield text
    finally:
        text.flush()
        text.detach()
