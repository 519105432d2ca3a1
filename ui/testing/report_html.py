"""One self-contained HTML report of a run, to mail to a colleague: the summary per variant (good
share with its clustered 95 % interval, times, tokens), why answers were rated bad, the errors,
then the grid of answers with the images' thumbnails.

Opens offline and asks nothing of the network: thumbnails are data: URLs (each image once, as a
CSS class, however many questions it has), no script, no external URL, and a Content-Security-
Policy that forbids every fetch but data: images. Answers, thinking, notes, questions and file
names are untrusted text and are only ever written escaped (shown as text, line breaks kept),
never as HTML or Markdown.
"""

from __future__ import annotations

import base64
import html
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import IO

from ui.choices import Choices
from ui.i18n import say
from ui.records import PROVENANCE_ICON, AnswerRecord, now_iso, provenance_message
from ui.testing.cells import Cell, Run
from ui.testing.report import reason_label, utf8_text
from ui.testing.stats import Summary, summarize

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
SUMMARY_HEADS = ("report_h_variant", "report_h_model", "report_h_cells", "report_h_rated", "report_h_good",
                 "report_h_failed", "report_h_first_token", "report_h_total", "report_h_tokens")
_IMAGE_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
                (b"GIF8", "image/gif"), (b"RIFF", "image/webp"))
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #d0d7de;padding:6px 8px;
vertical-align:top;text-align:left}th{background:#f6f8fa}
td.num{text-align:right;white-space:nowrap}.meta,.hint,.stats{color:#57606a;font-size:12px}
.grid td{min-width:220px;max-width:480px}.text{white-space:pre-wrap;overflow-wrap:anywhere}
.thumb{display:block;width:120px;height:90px;background:center/contain no-repeat;
print-color-adjust:exact;-webkit-print-color-adjust:exact}
.good{background:#eef9f0}.bad{background:#fdf0ef}.failed{background:#fff8e6}
.verdict{font-weight:600}.error{color:#9a3412}details{margin-top:6px}summary{cursor:pointer}
"""


def write_html(out: IO[bytes], run: Run, cells: Iterable[Cell], thumbnails: Mapping[str, bytes],
               lang: str, summaries: list[Summary] | None = None) -> None:
    """The report. `cells` in the store's order (by row, then variant); `thumbnails` by image
    digest (what the store keeps); pass `summaries` (stats.summarize) to read the cells only once."""
    if summaries is None:
        cells = list(cells)
        summaries = summarize(run, cells)
    with utf8_text(out) as text:
        title = say(lang, "report_title", {"title": run.title or run.id})
        text.write(f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n'
                   f'<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
                   '<meta name="referrer" content="no-referrer">\n'
                   '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                   f"<title>{_e(title)}</title>\n<style>{CSS}")
        classes = _thumbnail_classes(run, thumbnails, text)
        text.write(f"</style>\n</head>\n<body>\n<h1>{_e(title)}</h1>\n")
        text.write(f'<p class="meta">{_e(say(lang, "report_meta", _meta(run)))}</p>\n')
        text.writelines(_summary(run, summaries, lang))
        text.writelines(_reasons(summaries, lang))
        text.writelines(_errors(summaries, lang))
        text.writelines(_grid(run, cells, classes, lang))
        text.write("</body>\n</html>\n")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _meta(run: Run) -> dict[str, object]:
    return {"id": run.id, "created": run.created, "items": len(run.items),
            "variants": len(run.variants), "cells": run.size, "now": now_iso()}


def _thumbnail_classes(run: Run, thumbnails: Mapping[str, bytes], text: IO[str]) -> dict[str, str]:
    """Each image's thumbnail once, as a CSS class; digest → class name."""
    classes: dict[str, str] = {}
    for item in run.items:
        if item.image in classes:
            continue
        data = thumbnails.get(item.image)
        mime = next((m for magic, m in _IMAGE_TYPES if data and data.startswith(magic)), None)
        if data and mime and (mime != "image/webp" or data[8:12] == b"WEBP"):
            classes[item.image] = f"t{len(classes)}"
            text.write(f".{classes[item.image]}{{background-image:url(data:{mime};base64,"
                       f"{base64.b64encode(data).decode('ascii')})}}\n")
    return classes


def _percent(value: float) -> str:
    return f"{100 * value:.0f}"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _variant(run: Run, index: int, lang: str) -> str:
    """The model and the choices that differ from the defaults, as the chat's note says them."""
    if not 0 <= index < len(run.variants):
        return ""
    choices = run.variants[index].choices
    note = provenance_message(AnswerRecord(choices.model, choices), Choices(), lang)
    return str(note["metadata"]["title"]).removeprefix(PROVENANCE_ICON).strip()


def _summary(run: Run, summaries: list[Summary], lang: str) -> Iterator[str]:
    yield f"<h2>{_e(say(lang, 'report_summary'))}</h2>\n<table>\n<tr>"
    yield "".join(f"<th>{_e(say(lang, head))}</th>" for head in SUMMARY_HEADS) + "</tr>\n"
    for s in summaries:
        if s.interval is None:
            share = say(lang, "report_share_none")
        else:
            share = say(lang, "report_share", {"share": _percent(s.interval.share),
                                               "low": _percent(s.interval.low),
                                               "high": _percent(s.interval.high)})
        figures = (s.cells, s.rated, share, s.failed, _seconds(s.first_token_median),
                   _seconds(s.total_median), f"{s.prompt_tokens:,} + {s.completion_tokens:,}")
        yield (f"<tr><td>{_e(s.label)}</td><td>{_e(_variant(run, s.variant, lang))}</td>"
               + "".join(f'<td class="num">{_e(f)}</td>' for f in figures) + "</tr>\n")
    yield f'</table>\n<p class="hint">{_e(say(lang, "report_interval_note"))}</p>\n'


def _reasons(summaries: list[Summary], lang: str) -> Iterator[str]:
    yield f"<h2>{_e(say(lang, 'report_reasons'))}</h2>\n"
    reasons = list(dict.fromkeys(r for s in summaries for r in s.reasons))
    if not reasons:
        yield f'<p class="hint">{_e(say(lang, "report_no_reasons"))}</p>\n'
        return
    yield f"<table>\n<tr><th>{_e(say(lang, 'report_h_reason'))}</th>"
    yield "".join(f"<th>{_e(s.label)}</th>" for s in summaries) + "</tr>\n"
    for reason in reasons:
        counts = (say(lang, "report_reason_count", {"count": s.reasons.get(reason, 0), "bad": s.bad})
                  for s in summaries)
        yield (f"<tr><td>{_e(reason_label(reason, lang))}</td>"
               + "".join(f'<td class="num">{_e(c)}</td>' for c in counts) + "</tr>\n")
    yield "</table>\n"


def _errors(summaries: list[Summary], lang: str) -> Iterator[str]:
    errors = list(dict.fromkeys(e for s in summaries for e in s.errors))
    if not errors:
        return
    yield f"<h2>{_e(say(lang, 'report_errors'))}</h2>\n<table>\n<tr><th></th>"
    yield "".join(f"<th>{_e(s.label)}</th>" for s in summaries) + "</tr>\n"
    for error_key in errors:  # the error keys the scheduler stored for failed cells
        yield (f'<tr><td>{_e(say(lang, error_key))}</td>'
               + "".join(f'<td class="num">{s.errors.get(error_key, 0)}</td>' for s in summaries)
               + "</tr>\n")
    yield "</table>\n"


def _grid(run: Run, cells: Iterable[Cell], classes: dict[str, str], lang: str) -> Iterator[str]:
    yield f"<h2>{_e(say(lang, 'report_grid'))}</h2>\n<table class=\"grid\">\n<tr>"
    heads = [say(lang, f"report_col_{c}") for c in ("image", "question", "expected")]
    yield "".join(f"<th>{_e(h)}</th>" for h in [*heads, *(v.name for v in run.variants)]) + "</tr>\n"
    for row, group in itertools.groupby(cells, key=lambda c: c.row):
        if not 0 <= row < len(run.items):
            continue
        item = run.items[row]
        by_variant = {c.variant: c for c in group}
        thumb = classes.get(item.image)
        image = (f'<span class="thumb {thumb}" role="img" aria-label="{_e(item.name)}"></span>'
                 if thumb else "")
        yield (f'<tr><td>{image}<div class="text">{_e(item.name)}</div></td>'
               f'<td class="text">{_e(item.question)}</td><td class="text">{_e(item.expected)}</td>')
        for index in range(len(run.variants)):
            cell = by_variant.get(index)
            yield _cell(cell, lang) if cell else "<td></td>"
        yield "</tr>\n"
    yield "</table>\n"


def _cell(cell: Cell, lang: str) -> str:
    rating, record = cell.rating, cell.record
    kind = (cell.status if rating is None or cell.status != "done"
            else "good" if rating.verdict > 0 else "bad")
    parts = []
    if rating is not None:
        verdict = say(lang, "report_good" if rating.verdict > 0 else "report_bad")
        words = " · ".join([("👍 " if rating.verdict > 0 else "👎 ") + verdict,
                            *(reason_label(r, lang) for r in rating.reasons)])
        parts.append(f'<div class="verdict">{_e(words)}</div>')
    if cell.status == "pending":
        parts.append(f'<div class="hint">{_e(say(lang, "report_status_pending"))}</div>')
    if cell.answer:
        parts.append(f'<div class="text">{_e(cell.answer)}</div>')
    if cell.thinking:
        parts.append(f'<details><summary>{_e(say(lang, "report_thinking"))}</summary>'
                     f'<div class="text">{_e(cell.thinking)}</div></details>')
    if cell.error:
        parts.append(f'<p class="error">{_e(say(lang, cell.error, cell.error_params))}</p>')
    if rating is not None and (rating.note or rating.who):
        note = " — ".join(x for x in (rating.note, rating.who) if x)
        parts.append(f'<p class="text note">{_e(note)}</p>')
    if record is not None:
        stats = []
        if record.prompt_tokens is not None and record.completion_tokens is not None:
            stats.append(say(lang, "record_tokens", {"prompt": record.prompt_tokens,
                                                     "completion": record.completion_tokens}))
        if record.first_token_s is not None:
            stats.append(say(lang, "record_first_token", {"seconds": _seconds(record.first_token_s)}))
        if record.total_s is not None:
            stats.append(say(lang, "record_total", {"seconds": _seconds(record.total_s)}))
        if stats:
            parts.append(f'<p class="stats">{_e(" · ".join(stats))}</p>')
    return f'<td class="{kind}">{"".join(parts)}</td>'
