"""What the Test page shows, as plain text and HTML built from plain data (no gradio): the plan
before Run, the progress bar, a page of the results grid, one cell in focus."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

from ui import records
from ui.i18n import say
from ui.markup import render_boxes
from ui.records import AnswerRecord
from ui.sanitize import sanitize
from ui.testing.cells import Cell, Item, Run
from ui.testing.report import reason_label
from ui.testing.runner import Progress
from ui.testing.stats import Summary

SECONDS_PER_ANSWER = 6.0  # until this server has answered a few cells of its own
VERDICT = {1: "👍", -1: "👎"}


def plan(lang: str, images: int, questions: int, models: int, cells: int, image_tokens: int,
         concurrency: int, seconds_per_answer: float = SECONDS_PER_ANSWER) -> str:
    """Before Run: how many requests, image tokens, and about how long."""
    minutes = math.ceil(cells / max(concurrency, 1) * seconds_per_answer / 60)
    return say(lang, "test_plan", {"images": images, "questions": questions, "models": models,
                                   "cells": cells, "tokens": f"{image_tokens * models:,}",
                                   "minutes": max(minutes, 1), "at_once": concurrency})


def progress_html(lang: str, p: Progress | None, status: str = "", *, elsewhere: bool = False) -> str:
    """The progress bar with done / failed / remaining and the ETA; `elsewhere`: the run is being
    asked by another process, which the words say first."""
    if p is None:
        return ""
    ended = p.done + p.failed
    share = 100 * ended / p.total if p.total else 100
    eta = ""
    if p.eta_s is not None and not p.finished:
        eta = " · " + say(lang, "test_eta", {"time": _clock(p.eta_s)})
    words = say(lang, "test_progress", {"done": p.done, "failed": p.failed,
                                        "remaining": p.remaining}) + eta
    if p.finished:
        words = say(lang, "test_stopped" if p.stopped else "test_finished", {}) + " · " + words
    elif elsewhere:
        words = say(lang, "test_held_elsewhere", {}) + " " + words
    return (f'<div class="test-progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
            f'aria-valuenow="{share:.0f}"><div class="test-progress-fill" style="width:{share:.1f}%">'
            f'</div></div><p class="test-progress-words">{html.escape(words)}</p>')


def _clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def grid_headers(lang: str, run: Run) -> list[str]:
    return [say(lang, "test_col_image", {}), say(lang, "test_col_question", {}),
            *(v.name for v in run.variants)]


def grid_rows(lang: str, run: Run, cells: Sequence[Cell], thumb_url: str) -> list[list[str]]:
    """A page of the grid: a row per image × question (thumbnail, question and expected answer),
    a column per variant (the answer's start, its rating, or why it failed). Markdown cells; every
    text from a file or a model is made inert (ui/sanitize.py)."""
    rows: dict[int, list[str]] = {}
    for cell in cells:
        item = run.items[cell.row]
        if cell.row not in rows:
            rows[cell.row] = [_thumb(item, thumb_url), _question(lang, item),
                              *([""] * len(run.variants))]
        rows[cell.row][2 + cell.variant] = _cell_text(lang, cell)
    return list(rows.values())


def _thumb(item: Item, thumb_url: str) -> str:
    """The thumbnail (from this app, by digest) and the file name, which is the tester's text:
    no bracket of it may close the image's alt text and start a link or an image of its own."""
    alt = re.sub(r"[\[\]()<>`*_\\!]", " ", item.name)
    return f"![{alt}]({thumb_url}{item.image})<br>{sanitize(item.name)}"


def _question(lang: str, item: Item) -> str:
    text = sanitize(item.question)
    if item.expected:
        text += "\n\n" + say(lang, "test_expected", {"text": sanitize(item.expected)})
    return text


def _cell_text(lang: str, cell: Cell, limit: int = 280) -> str:
    if cell.status == "pending":
        return "⏳"
    if cell.status == "failed":
        return "⚠️ " + sanitize(say(lang, cell.error, cell.error_params))
    answer = render_boxes(cell.answer)[0] if "<|" in cell.answer else cell.answer
    text = answer if len(answer) <= limit else answer[:limit].rstrip() + "…"
    mark = VERDICT.get(cell.rating.verdict, "") if cell.rating else ""
    return (f"{mark} " if mark else "") + sanitize(text)


def stats_line(lang: str, record: AnswerRecord | None) -> str:
    """Tokens and times of one answer, as the chat's note under an answer says them."""
    return records.stats_line(record, lang) if record is not None else ""


def summary(lang: str, summaries: Sequence[Summary]) -> str:
    """Per model: good share with its 95 % interval, rated, failed, the most common reasons,
    median times and tokens, as a Markdown table (the HTML report's summary, shorter)."""
    if not summaries:
        return ""
    heads = [say(lang, "report_h_variant"), say(lang, "report_h_rated"), say(lang, "report_h_good"),
             say(lang, "report_h_failed"), say(lang, "report_reasons"),
             say(lang, "report_h_first_token"), say(lang, "report_h_total"),
             say(lang, "report_h_tokens")]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for s in summaries:
        if s.interval is None:
            share = say(lang, "report_share_none")
        else:
            share = say(lang, "report_share", {"share": f"{100 * s.interval.share:.0f}",
                                               "low": f"{100 * s.interval.low:.0f}",
                                               "high": f"{100 * s.interval.high:.0f}"})
        top = sorted(s.reasons.items(), key=lambda kv: -kv[1])[:3]
        reasons = ", ".join(f"{reason_label(r, lang)} {n}" for r, n in top if n)
        cells = [s.label, str(s.rated), share, str(s.failed), reasons or "–",
                 _s(s.first_token_median), _s(s.total_median),
                 f"{s.prompt_tokens:,} + {s.completion_tokens:,}"]
        lines.append("| " + " | ".join(sanitize(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n\n" + say(lang, "report_interval_note")


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"
