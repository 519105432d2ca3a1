"""The Leaderboard's downloads: the votes, and the ratings of answers, as CSV (opens in Excel as
it is: UTF-8 with a byte-order mark, formulas defused, as ui/testing/report.py writes a run) and
JSONL (every field, for scripts). Nothing here knows a key or a secret: a vote holds models,
choices, the question, image names and hashes, answers, the verdict and who gave it.

Ratings come from either place as `Rated` rows: the Test page's rated cells (`run_ratings`) and
the Chat's 👍 / 👎 (`chat_ratings`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ui.choices import Choices
from ui.i18n import say
from ui.store.api import CellFilter, Store
from ui.testing.board import sees
from ui.testing.cells import Run
from ui.testing.report import _excel, reason_label, utf8_text
from ui.testing.votes import Vote

VOTE_COLUMNS = ("id", "at", "who", "blind", "test_set", "model_a", "model_b", "outcome", "winner",
                "reasons", "note", "question", "images", "sha256", "choices_a", "choices_b",
                "answer_a", "answer_b")
RATING_COLUMNS = ("source", "run", "model", "choices", "question", "images", "sha256", "answer",
                  "rating", "reasons", "note", "who", "at")
SOURCES = ("test", "chat")  # where an answer was rated (ui/i18n.py "board_source_<source>")
PAGE = 500  # rated cells read at a time


@dataclass(frozen=True)
class Rated:
    """One rated answer, wherever it was rated: the Test page ("test") or the chat ("chat")."""

    source: str
    model: str
    choices: Choices
    question: str
    images: tuple[tuple[str, str], ...]  # (file name, sha256)
    answer: str
    verdict: int  # +1 good, -1 bad
    reasons: tuple[str, ...] = ()
    note: str = ""
    who: str = ""
    at: str = ""
    run: str = ""  # the Test run's title


def run_ratings(store: Store, viewer: str) -> Iterator[Rated]:
    """Every rated cell of the Test runs `viewer` may see, run by run, in row order."""
    runs = [info for info in store.runs(None, limit=1_000_000) if sees(info.owner, viewer)]
    for info in sorted(runs, key=lambda i: i.id):
        run = store.run(info.id) if info.rated else None
        if run is None:
            continue
        for verdict in (1, -1):  # each a range of the ratings_by_run index, a page at a time
            offset = 0
            while page := store.cells(run.id, CellFilter(verdict=verdict), offset=offset, limit=PAGE):
                yield from (_rated(run, cell) for cell in page)
                offset += len(page)


def chat_ratings(store: Store, viewer: str) -> Iterator[Rated]:
    """Every 👍 / 👎 given in the Chat that `viewer` may see, in time order."""
    for r in store.chat_ratings(owner=None):
        if sees(r.owner, viewer):
            yield Rated("chat", r.model, r.choices, r.question, r.images, r.answer, r.verdict,
                        r.reasons, r.note, r.who, r.at)


def _rated(run: Run, cell: Any) -> Rated:
    item = run.items[cell.row] if 0 <= cell.row < len(run.items) else None
    variant = run.variants[cell.variant] if 0 <= cell.variant < len(run.variants) else None
    record, rating = cell.record, cell.rating
    choices = record.choices if record else variant.choices if variant else Choices()
    return Rated("test", record.model if record else choices.model, choices,
                 item.question if item else "", ((item.name, item.image),) if item else (),
                 cell.answer, rating.verdict, tuple(rating.reasons), rating.note, rating.who,
                 rating.at, run.title)


def export(path: Path, kind: str, rows: Iterable[Vote] | Iterable[Rated], lang: str) -> int:
    """Write votes or ratings (`kind`) to `path` (.csv or .jsonl) with no half-written file under
    that name; the number of rows."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl") or kind not in ("votes", "ratings"):
        raise ValueError(f"{kind} go to .csv or .jsonl, not {suffix!r}")
    partial = path.with_name(path.name + ".part")
    as_row: Callable[..., dict[str, Any]]
    columns: tuple[str, ...]
    if kind == "votes":
        as_row, columns = _vote_row, VOTE_COLUMNS
        heads = [say(lang, f"board_vote_col_{name}") for name in VOTE_COLUMNS]
    else:
        as_row, columns = _rating_row, RATING_COLUMNS
        heads = [say(lang, f"board_rating_col_{name}") for name in RATING_COLUMNS]
    with partial.open("wb") as out:
        count = (write_csv(out, rows, as_row, columns, heads, lang) if suffix == ".csv"
                 else write_jsonl(out, rows, as_row))
    os.replace(partial, path)
    return count


def write_csv(out: IO[bytes], rows: Iterable[Any], as_row: Any, columns: tuple[str, ...],
              heads: list[str], lang: str) -> int:
    """Headers in `lang`, one row per vote or rating; the rows written."""
    count = 0
    with utf8_text(out) as text:
        text.write("\ufeff")
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(heads)
        for row in rows:
            values = as_row(row, lang, flat=True)
            writer.writerow([_excel(values[name], lang) for name in columns])
            count += 1
    return count


def write_jsonl(out: IO[bytes], rows: Iterable[Any], as_row: Any) -> int:
    count = 0
    with utf8_text(out) as text:
        for row in rows:
            text.write(json.dumps(as_row(row, "en", flat=False), ensure_ascii=False) + "\n")
            count += 1
    return count


def _vote_row(vote: Vote, lang: str, flat: bool) -> dict[str, Any]:
    winner = {"a": vote.model_a, "b": vote.model_b}.get(vote.outcome, "")
    return {
        "id": vote.id, "at": vote.at, "who": vote.who, "test_set": vote.test_set,
        "blind": (say(lang, "board_yes") if vote.blind else say(lang, "board_no")) if flat else vote.blind,
        "model_a": vote.model_a, "model_b": vote.model_b,
        "outcome": say(lang, f"board_outcome_{vote.outcome}") if flat else vote.outcome,
        "winner": winner,
        "reasons": _reasons(vote.reasons, lang) if flat else list(vote.reasons),
        "note": vote.note, "question": vote.question,
        **_images(vote.images, flat),
        "choices_a": _choices(vote.choices_a, flat), "choices_b": _choices(vote.choices_b, flat),
        "answer_a": vote.answer_a, "answer_b": vote.answer_b,
    }


def _rating_row(rated: Rated, lang: str, flat: bool) -> dict[str, Any]:
    good = rated.verdict > 0
    return {
        "source": say(lang, f"board_source_{rated.source}") if flat else rated.source,
        "run": rated.run, "model": rated.model, "choices": _choices(rated.choices, flat),
        "question": rated.question, **_images(rated.images, flat), "answer": rated.answer,
        "rating": say(lang, "report_good" if good else "report_bad") if flat else rated.verdict,
        "reasons": _reasons(rated.reasons, lang) if flat else list(rated.reasons),
        "note": rated.note, "who": rated.who, "at": rated.at,
    }


def _images(images: tuple[tuple[str, str], ...], flat: bool) -> dict[str, Any]:
    if flat:
        return {"images": "; ".join(n for n, _ in images), "sha256": "; ".join(d for _, d in images)}
    return {"images": [{"name": n, "sha256": d} for n, d in images]}


def _choices(choices: Choices, flat: bool) -> Any:
    values = {name: getattr(choices, name) for name in Choices.names() if name != "model"}
    if not flat:
        return {"model": choices.model, **values}
    return ", ".join(f"{name}={'' if value is None else value}" for name, value in values.items()
                     if not (name == "system_prompt" and not value))


def _reasons(reasons: Iterable[str], lang: str) -> str:
    return "; ".join(reason_label(r, lang) for r in reasons)
