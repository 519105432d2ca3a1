"""ui/i18n.py holds every sentence in both languages, and every key the code uses is one of them.

The code's keys are read from its source with `ast`: string literals given to the error classes
of ui/errors.py's tree, the key argument of `say(...)`, the label keys of `gr.I18n`, and the
tables of ui/errors.py. Keys built at run time (f"note_{k}") are enumerated from the code that
produces their values; a new way of building a key fails until it is taught here (DYNAMIC).
"""

from __future__ import annotations

import ast
import string
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from ui import errors
from ui.i18n import LABELS, MESSAGES, say

UI = Path(__file__).resolve().parent.parent / "ui"
ERROR_CLASSES = {"ChatError", "InputError", "EndpointError", "ImageError", "ExportError", "FileRefused",
                 "Problem"}  # Problem: ui/testing/tables.py, what a tester should know about a test set
# Key expressions whose values are checked elsewhere: error keys where the error is raised,
# FINISH_KEYS[...] by test_error_tables_name_known_sentences.
# cell.error / error_key: a failed test cell's error key, the key of the ChatError it met.
CHECKED_ELSEWHERE = ("e.key", "error.key", "self.key", "FINISH_KEYS[", "cell.error", "error_key")


# --- the sentences ------------------------------------------------------------------------------


def placeholders(template: str) -> set[str]:
    """The names a template fills, without the English plural helpers ({count_s} or {count_es}
    next to {count})."""
    names = {field.split(".")[0].split("[")[0]
             for _, field, _, _ in string.Formatter().parse(template) if field}
    return {n for n in names if not plural_helper(n, names)}


def plural_helper(name: str, names: Collection[str]) -> bool:
    """{count_s} or {count_es}: filled by say() from {count}."""
    return any(name.endswith(end) and name[:-len(end)] in names for end in ("_s", "_es"))


@pytest.mark.parametrize("table", [MESSAGES, LABELS], ids=["MESSAGES", "LABELS"])
def test_english_and_chinese_have_the_same_keys(table: dict[str, dict[str, str]]) -> None:
    assert set(table) == {"en", "zh"}
    missing_in_zh = sorted(table["en"].keys() - table["zh"].keys())
    only_in_zh = sorted(table["zh"].keys() - table["en"].keys())
    assert (missing_in_zh, only_in_zh) == ([], [])
    assert [k for lang in ("en", "zh") for k, v in table[lang].items() if not v.strip()] == []


@pytest.mark.parametrize("table", [MESSAGES, LABELS], ids=["MESSAGES", "LABELS"])
def test_chinese_sentences_fill_the_same_placeholders_as_english(
        table: dict[str, dict[str, str]]) -> None:
    differ = {key: (sorted(placeholders(en)), sorted(placeholders(table["zh"][key])))
              for key, en in table["en"].items()
              if key in table["zh"] and placeholders(en) != placeholders(table["zh"][key])}
    assert differ == {}


def plausible_params(template: str) -> dict[str, object]:
    """A value for each placeholder of the template: floats for float formats, ints otherwise."""
    params: dict[str, object] = {}
    for _, field, spec, _ in string.Formatter().parse(template):
        if not field:
            continue
        name = field.split(".")[0].split("[")[0]
        params[name] = 2.5 if spec and spec[-1] in "fFgGeE%" else 3
    return {k: v for k, v in params.items() if not plural_helper(k, params)}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_sentence_renders_with_every_placeholder_filled(lang: str) -> None:
    broken = {}
    for key, english in MESSAGES["en"].items():
        template = MESSAGES[lang].get(key, english)
        rendered = say(lang, key, plausible_params(english))
        # say() shows an unfilled placeholder as "?", and a template it could not fill as it is.
        if rendered.count("?") != template.count("?") or "{" in rendered or "}" in rendered:
            broken[key] = rendered
    assert broken == {}


# --- the keys the code uses ---------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """One place in ui/ that names a sentence: a key, or an expression that builds one."""

    where: str  # "handlers.py:123"
    key: str | None
    expr: str | None = None  # the source of a key built at run time


@cache
def modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(UI)): ast.parse(p.read_text("utf-8"), str(p))
            for p in sorted(UI.rglob("*.py"))}


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _literals(expr: ast.expr, tree: ast.Module) -> Iterator[str | None]:
    """The strings an expression can be: constants, either arm of `a if c else b`, a local
    function's return values; None for anything else."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        yield expr.value
    elif isinstance(expr, ast.IfExp):
        yield from _literals(expr.body, tree)
        yield from _literals(expr.orelse, tree)
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and (
            defs := [d for d in tree.body if isinstance(d, ast.FunctionDef) and d.name == expr.func.id]):
        for node in ast.walk(defs[0]):
            if isinstance(node, ast.Return) and node.value is not None:
                yield from _literals(node.value, tree)
    else:
        yield None


def _key_arguments(tree: ast.Module) -> Iterator[tuple[str, ast.expr]]:
    """(table, key expression) for each call that names a sentence or a label."""
    error_classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                     and any(_name(b) in ERROR_CLASSES for b in node.bases)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name in ERROR_CLASSES and node.args:
            yield "MESSAGES", node.args[0]
        elif name == "say" and len(node.args) >= 2:
            yield "MESSAGES", node.args[1]
        elif name == "i18n" and node.args:
            yield "LABELS", node.args[0]
        elif (name == "__init__" and error_classes and node.args
              and isinstance(node.args[0], ast.Constant)):  # FileRefused: super().__init__("...")
            yield "MESSAGES", node.args[0]
        for keyword in node.keywords:
            if keyword.arg == "key" and name in ERROR_CLASSES | {"say"}:
                yield "MESSAGES", keyword.value


@cache
def uses() -> dict[str, tuple[Use, ...]]:
    """Every place in ui/ that names a sentence (MESSAGES) or a label (LABELS)."""
    found: dict[str, list[Use]] = {"MESSAGES": [], "LABELS": []}
    for path, tree in modules().items():
        for table, expr in _key_arguments(tree):
            where = f"{path}:{expr.lineno}"
            for value in _literals(expr, tree):
                found[table].append(Use(where, value, None if value is not None else ast.unparse(expr)))
    return {table: tuple(items) for table, items in found.items()}


# How each key built at run time can come out, read from the code that decides it.


def _note_keys() -> set[str]:
    """f"note_{k}": the notes ui/imaging/payload.py gives a PreparedImage, and the stand-in for none."""
    found: list[ast.expr] = []
    for node in ast.walk(modules()["imaging/payload.py"]):  # notes = [...], .append, notes_
        if isinstance(node, ast.Assign) and any("notes" in _name(t) for t in node.targets):
            found.append(node.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "append" and "notes" in _name(node.func.value)):
            found.extend(node.args)
    for node in ast.walk(modules()["image_notes.py"]):  # keys = image.notes or ("unchanged",)
        if isinstance(node, ast.Assign) and any(
                isinstance(n, ast.Attribute) and n.attr == "notes" for n in ast.walk(node.value)):
            found.append(node.value)
    notes = {n.value for expr in found for n in ast.walk(expr)
             if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"rotated", "downscaled", "unchanged"} <= notes, "the notes are no longer found"
    return {f"note_{n}" for n in notes}


def _endpoint_keys() -> set[str]:
    """classify_http's `key`: ui/errors.py's tables and the literals it falls back to."""
    keys = {k for k, _ in [*errors._CODE_KEYS.values(), *errors._STATUS_KEYS.values()]}
    keys |= {k for _, k in errors._MESSAGE_HINTS}
    [classify] = [d for d in modules()["errors.py"].body
                  if isinstance(d, ast.FunctionDef) and d.name == "classify_http"]
    for node in ast.walk(classify):  # key, retryable = "server_error", True / .get(..., ("unknown", False))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Tuple) and _name(t.elts[0]) == "key"
                                                for t in node.targets):
            keys |= {pair.elts[0].value for pair in ast.walk(node.value) if isinstance(pair, ast.Tuple)
                     and isinstance(pair.elts[0], ast.Constant) and isinstance(pair.elts[0].value, str)}
    assert {"unknown", "server_error", "auth"} <= keys
    return keys


def _example_keys() -> set[str]:
    """layout._examples: the sentence of each example, from its (image, key) pairs."""
    [examples] = [d for d in modules()["page/layout.py"].body
                  if isinstance(d, ast.FunctionDef) and d.name == "_examples"]
    keys = {pair.elts[1].value for node in ast.walk(examples) if isinstance(node, ast.Assign)
            for pair in getattr(node.value, "elts", []) if isinstance(pair, ast.Tuple)
            and isinstance(pair.elts[1], ast.Constant)}
    assert keys, "the examples are no longer found"
    return {str(k) for k in keys}


def _choice_value_keys() -> set[str]:
    """records._phrase: f"choice_{name}_{value}" for the two choices that are one of a few words."""
    from ui.imaging.payload import QUALITY
    from ui.page.chat import HISTORY_POLICIES

    return {*(f"choice_quality_{q}" for q in QUALITY),
            *(f"choice_history_images_{h}" for h in HISTORY_POLICIES)}


def _choice_keys() -> set[str]:
    """records._phrase: f"choice_{name}" for the choices said with their value."""
    from ui.choices import Choices

    said_otherwise = {"model", "system_prompt", "thinking", "quality", "history_images"}
    return {f"choice_{name}" for name in Choices.names() if name not in said_otherwise}


def _unreadable_keys() -> set[str]:
    """imaging/formats.unreadable_key: the string constants it returns."""
    import inspect

    from ui.imaging import formats

    tree = ast.parse(inspect.getsource(formats.unreadable_key))
    keys = {n.value for node in ast.walk(tree) if isinstance(node, ast.Return)
            for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert keys, "unreadable_key returns no constant any more"
    return {str(k) for k in keys}


def _reason_keys() -> set[str]:
    """report.reason_label: f"reason_{reason}" for the vision reasons of ui/testing/cells.py."""
    from ui.testing.cells import REASONS

    return {f"reason_{r}" for r in REASONS}


def _report_column_keys() -> set[str]:
    """report.py / report_html.py: f"report_col_{name}" for the CSV columns (the grid uses three)."""
    from ui.testing.report import COLUMNS

    return {f"report_col_{c}" for c in COLUMNS}


def _report_keys() -> set[str]:
    """report.py: the status of a cell; report_html.py: the summary's column heads."""
    from typing import get_args

    from ui.testing.cells import CellStatus
    from ui.testing.report_html import SUMMARY_HEADS

    return {*(f"report_status_{s}" for s in get_args(CellStatus)), *SUMMARY_HEADS}


def _board_keys() -> set[str]:
    """board_exports.py / board_html.py: the columns, outcomes and sources of the Leaderboard."""
    from ui.testing.board_exports import RATING_COLUMNS, SOURCES, VOTE_COLUMNS
    from ui.testing.board_html import RANKING_HEADS
    from ui.testing.votes import OUTCOMES

    return {*(f"board_vote_col_{c}" for c in VOTE_COLUMNS),
            *(f"board_rating_col_{c}" for c in RATING_COLUMNS),
            *(f"board_outcome_{o}" for o in OUTCOMES), *(f"board_source_{s}" for s in SOURCES),
            *(f"board_col_{h}" for h in RANKING_HEADS)}


from ui.page.compare import VOTE_KEYS  # noqa: E402
from ui.page.nav import PAGES  # noqa: E402

DYNAMIC: dict[tuple[str, str], Callable[[], set[str]]] = {
    ("page/testrun_layout.py", "f'reason_{r}'"): _reason_keys,
    ("page/rating_panel.py", "f'reason_{r}'"): _reason_keys,
    ("imaging/payload.py", "unreadable_key(head)"): _unreadable_keys,
    ("testing/report.py", "f'reason_{reason}'"): _reason_keys,
    ("testing/report.py", "f'report_col_{name}'"): _report_column_keys,
    ("testing/report_html.py", "f'report_col_{c}'"): _report_column_keys,
    ("testing/report.py", "f'report_status_{cell.status}'"): _report_keys,
    ("testing/report_html.py", "head"): _report_keys,
    ("image_notes.py", "f'note_{k}'"): _note_keys,
    ("errors.py", "key"): _endpoint_keys,
    ("page/layout.py", "key"): _example_keys,
    ("page/nav.py", "key"): lambda: {key for _, _, key in PAGES},
    ("page/compare.py", "key"): lambda: {k for keys in VOTE_KEYS.values() for k in keys},
    ("page/compare_layout.py", "key"): lambda: {k for keys in VOTE_KEYS.values() for k in keys},
    ("page/compare_layout.py", "f'reason_{r}'"): _reason_keys,
    ("records.py", "f'choice_{name}_{value}'"): _choice_value_keys,
    ("records.py", "f'choice_{name}'"): _choice_keys,
    ("testing/board_exports.py", "f'board_vote_col_{name}'"): _board_keys,
    ("testing/board_exports.py", "f'board_rating_col_{name}'"): _board_keys,
    ("testing/board_exports.py", "f'board_outcome_{vote.outcome}'"): _board_keys,
    ("testing/board_exports.py", "f'board_source_{rated.source}'"): _board_keys,
    ("testing/board_html.py", "f'board_col_{h}'"): _board_keys,
}


def _dynamic(use: Use) -> tuple[str, str]:
    assert use.expr is not None
    return use.where.split(":")[0], use.expr


def test_every_key_built_at_run_time_can_be_enumerated() -> None:
    unknown = [f"{u.where}: {u.expr}" for table in uses().values() for u in table
               if u.key is None and not u.expr.startswith(CHECKED_ELSEWHERE)  # type: ignore[union-attr]
               and _dynamic(u) not in DYNAMIC]
    assert unknown == [], "teach DYNAMIC in tests/test_i18n.py which keys these can be"


def test_every_sentence_key_the_code_names_exists() -> None:
    named = [(u.where, u.key) for u in uses()["MESSAGES"] if u.key is not None]
    assert len(named) > 50, "the scan no longer finds the code's keys"
    built = [(f"{u.where} {u.expr}", key) for u in uses()["MESSAGES"]
             if u.key is None and _dynamic(u) in DYNAMIC for key in DYNAMIC[_dynamic(u)]()]
    assert [f"{where}: {key}" for where, key in named + built if key not in MESSAGES["en"]] == []


def test_error_tables_name_known_sentences() -> None:
    keys = {*errors.FINISH_KEYS.values(), *(k for k, _ in errors._CODE_KEYS.values()),
            *(k for k, _ in errors._STATUS_KEYS.values()), *(k for _, k in errors._MESSAGE_HINTS)}
    assert sorted(keys - MESSAGES["en"].keys()) == []


def test_every_label_the_page_uses_exists() -> None:
    named = [(u.where, u.key) for u in uses()["LABELS"] if u.key is not None]
    assert len(named) > 10, "the scan no longer finds the page's labels"
    assert [f"{where}: {key}" for where, key in named if key not in LABELS["en"]] == []
