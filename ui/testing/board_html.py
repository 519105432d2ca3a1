"""The Leaderboard's tables as HTML built here (ui/testing/board.py gives the numbers): the
ranking with each score's 95 % interval drawn as a bar, the win-rate matrix and the reasons by
model. Every text that reaches the page is escaped: model names come from the votes, and those
from people (a proxy's model list, a forged vote)."""

from __future__ import annotations

from html import escape

from ui.i18n import say
from ui.testing.board import Board
from ui.testing.cells import REASONS
from ui.testing.leaderboard import FEW_VOTES
from ui.testing.report import reason_label

# Scoped to the gr.HTML that shows the tables (its css_template); colours that read on light and
# dark themes alike.
CSS = """
table.board { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.board th, table.board td { padding: 4px 8px; border-bottom: 1px solid rgba(128,128,128,.25);
  text-align: right; white-space: nowrap; }
table.board th.model, table.board td.model { text-align: left; white-space: normal;
  overflow-wrap: anywhere; }
table.board caption { caption-side: bottom; text-align: left; font-size: .85em; opacity: .75;
  padding-top: 4px; white-space: normal; }
.board-bar { position: relative; display: inline-block; width: 140px; height: 10px;
  vertical-align: middle; margin-left: 8px; background: rgba(128,128,128,.15); border-radius: 5px; }
.board-bar span { position: absolute; top: 0; bottom: 0; background: rgba(99,102,241,.55);
  border-radius: 5px; }
.board-bar i { position: absolute; top: -2px; width: 2px; height: 14px; background: currentColor; }
table.board td.none { opacity: .4; }
"""
RANKING_HEADS = ("rank", "model", "score", "votes", "wins")


def summary(board: Board, lang: str, blind_only: bool) -> str:
    """One line over the tables: how many votes, of how many models."""
    counts = {"count": board.votes, "models": len(board.standings)}
    return say(lang, "board_counted_blind", counts) if blind_only else say(lang, "board_counted", counts)


def ranking(board: Board, lang: str) -> str:
    """Rank, model, score with its 95 % interval (numbers and a bar), votes, wins."""
    rows = board.standings
    if not rows:
        return ""
    lo = min(r.low for r in rows)
    span = max(max(r.high for r in rows) - lo, 1e-9)
    heads = "".join(_head(say(lang, f"board_col_{h}"), h == "model") for h in RANKING_HEADS)
    body = []
    for r in rows:
        left, width = 100 * (r.low - lo) / span, 100 * (r.high - r.low) / span
        mark = 100 * (r.score - lo) / span
        if r.rank is None:  # too few votes (leaderboard.FEW_VOTES): no interval, no rank
            interval, bar = say(lang, "board_too_few", {"count": FEW_VOTES}), ""
        else:
            interval = say(lang, "board_interval", {"low": round(r.low), "high": round(r.high)})
            bar = (f'<span class="board-bar" aria-hidden="true"><span style="left:{left:.1f}%;'
                   f'width:{max(width, 1):.1f}%"></span><i style="left:{mark:.1f}%"></i></span>')
        rank = "–" if r.rank is None else r.rank
        body.append(f"<tr><td>{rank}</td><td class=\"model\">{escape(r.model)}</td>"
                    f"<td>{round(r.score)} <small>{escape(interval)}</small>{bar}</td>"
                    f"<td>{r.votes}</td><td>{_number(r.wins)}</td></tr>")
    return (f'<table class="board" id="board-ranking-table"><caption>'
            f'{escape(say(lang, "board_ranking_caption"))}</caption><thead><tr>{heads}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def matrix(board: Board, lang: str) -> str:
    """Row model's share of wins against the column model, with their votes; empty if they never met."""
    models = board.models
    if len(models) < 2:
        return ""
    heads = "".join(f'<th class="model">{escape(m)}</th>' for m in models)
    body = []
    for i, a in enumerate(models):
        cells = []
        for j, b in enumerate(models):
            pair = board.matrix[i][j]
            if i == j or pair is None:
                cells.append('<td class="none">·</td>' if i != j else '<td class="none">—</td>')
                continue
            percent = round(100 * pair.share)
            title = say(lang, "board_pair", {"a": a, "b": b, "share": percent, "count": pair.votes})
            tint = (f"rgba(34,197,94,{min(abs(pair.share - .5) * 1.2, .6):.2f})" if pair.share >= .5
                    else f"rgba(239,68,68,{min(abs(pair.share - .5) * 1.2, .6):.2f})")
            cells.append(f'<td title="{escape(title)}" style="background:{tint}">{percent} % '
                         f"<small>({pair.votes})</small></td>")
        body.append(f'<tr><th class="model">{escape(a)}</th>{"".join(cells)}</tr>')
    return (f'<table class="board" id="board-matrix-table"><caption>'
            f'{escape(say(lang, "board_matrix_caption"))}</caption><thead><tr><th></th>{heads}'
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>")


def reasons(board: Board, lang: str) -> str:
    """How often each vision reason was given against each model (only reasons given at all)."""
    given = [r for r in REASONS if any(r in counts for _, counts in board.reasons)]
    extra = sorted({r for _, counts in board.reasons for r in counts} - set(REASONS))
    given += extra  # a reason a later version knows, shown as its key
    if not board.standings:
        return ""
    if not given:
        return f'<p id="board-no-reasons">{escape(say(lang, "board_no_reasons"))}</p>'
    heads = "".join(f"<th>{escape(reason_label(r, lang))}</th>" for r in given)
    votes = {s.model: s.votes for s in board.standings}
    body = []
    for model, counts in board.reasons:
        cells = "".join(f"<td>{counts[r]}</td>" if counts.get(r) else '<td class="none">·</td>'
                        for r in given)
        body.append(f'<tr><td class="model">{escape(model)}</td><td>{votes[model]}</td>{cells}</tr>')
    return (f'<table class="board" id="board-reasons-table"><caption>'
            f'{escape(say(lang, "board_reasons_caption"))}</caption><thead><tr>'
            f'<th class="model">{escape(say(lang, "board_col_model"))}</th>'
            f'<th>{escape(say(lang, "board_col_votes"))}</th>{heads}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _head(text: str, model: bool = False) -> str:
    return f'<th class="model">{escape(text)}</th>' if model else f"<th>{escape(text)}</th>"
