"""The Leaderboard's view model, its tables and its downloads (ui/testing/board*.py), and its
handlers on a real SQLite store (ui/page/leaderboard.py): who sees which votes and ratings, the
matrix and reasons, the filters, escaping, and files that open in Excel."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path

import gradio as gr
import pytest

from tests.conftest import Browser
from ui.choices import Choices
from ui.page.leaderboard import Filters, LeaderboardPage
from ui.records import AnswerRecord
from ui.store import open_store
from ui.testing import board_html
from ui.testing.board import BadDate, build, period, sees
from ui.testing.board_exports import Rated, export, run_ratings
from ui.testing.cells import Item, Rating, Variant
from ui.testing.votes import Outcome, Vote


def outcome(a: str, b: str, result: str, owner: str = "browser:me", reasons: tuple[str, ...] = (),
            test_set: str = "", blind: bool = True) -> Outcome:
    return Outcome(a, b, result, reasons, owner, test_set, blind, "2026-11-27T10:00:00Z")


def test_a_browser_counts_only_its_own_votes_and_a_signed_in_team_counts_the_team_s():
    votes = [outcome("A", "B", "a", "browser:me")] * 3 + [outcome("A", "B", "b", "browser:other")] * 5 \
        + [outcome("A", "B", "b", "user:alice")] * 2 + [outcome("A", "B", "a", "user:bob")]
    mine = build(votes, "browser:me")
    assert (mine.votes, mine.models) == (3, ("A", "B"))
    team = build(votes, "user:bob")
    assert team.votes == 3 and team.standings[0].model == "B"  # alice's two wins and bob's one
    assert build(votes, "browser:nobody").votes == 0
    assert sees("cli", "browser:me") and sees("user:alice", "user:bob")
    assert not sees("browser:other", "browser:me") and not sees("browser:me", "user:bob")


def test_the_matrix_gives_each_pair_its_share_of_wins_and_votes_and_nothing_where_none_met():
    votes = ([outcome("A", "B", "a")] * 3 + [outcome("B", "A", "a")] + [outcome("A", "B", "tie")] * 2
             + [outcome("B", "C", "a")] * 4)
    board = build(votes, "browser:me")
    models = board.models
    assert models[0] == "A" or models[0] == "B"
    at = {m: i for i, m in enumerate(models)}
    ab = board.matrix[at["A"]][at["B"]]
    assert ab is not None and (ab.votes, ab.wins, ab.share) == (6, 4.0, pytest.approx(4 / 6))
    ba = board.matrix[at["B"]][at["A"]]
    assert ba is not None and ba.share == pytest.approx(2 / 6)
    assert board.matrix[at["A"]][at["C"]] is None and board.matrix[at["C"]][at["A"]] is None
    assert board.matrix[at["B"]][at["C"]].share == 1.0  # type: ignore[union-attr]


def test_reasons_count_against_the_loser_and_against_both_when_both_are_bad_or_tied():
    votes = [outcome("A", "B", "a", reasons=("wrong_count",)),
             outcome("A", "B", "b", reasons=("misread_text", "refused")),
             outcome("A", "C", "both_bad", reasons=("invented_object",)),
             outcome("B", "C", "tie", reasons=("other",))]
    against = dict(build(votes, "browser:me").reasons)
    assert against["A"] == {"misread_text": 1, "refused": 1, "invented_object": 1}
    assert against["B"] == {"wrong_count": 1, "other": 1}
    assert against["C"] == {"invented_object": 1, "other": 1}


def test_the_test_set_filter_counts_one_set_and_the_choices_name_every_set_of_the_viewer():
    votes = [outcome("A", "B", "a", test_set="receipts")] * 4 + [outcome("A", "B", "b")] * 2 \
        + [outcome("A", "B", "b", "browser:other", test_set="secret set")]
    assert build(votes, "browser:me").test_sets == ("", "receipts")
    assert build(votes, "browser:me", "receipts").votes == 4
    assert build(votes, "browser:me", "").votes == 2


def test_model_names_and_reasons_from_votes_are_escaped_in_every_table():
    evil = '<img src=x onerror="alert(1)">'
    board = build([outcome(evil, "B", "b", reasons=("misread_text", "<script>x</script>"))] * 3
                  + [outcome("B", evil, "tie")], "browser:me")
    html = board_html.ranking(board, "en") + board_html.matrix(board, "en") + board_html.reasons(board, "en")
    assert "<img" not in html and "<script" not in html
    assert html.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") >= 3  # ranking, matrix, reasons
    assert "Misread text" in html and "&lt;script&gt;" in html


def test_the_tables_say_their_numbers_in_the_page_language():
    board = build([outcome("A", "B", "a")] * 6 + [outcome("A", "B", "b")] * 2, "browser:me")
    assert "75 %" in board_html.matrix(board, "en")  # A won 6 of 8
    assert "名次" in board_html.ranking(board, "zh") and "胜率" in board_html.matrix(board, "zh")
    assert "8 blind votes counted" in board_html.summary(board, "en", True).replace("**", "")
    assert board_html.ranking(build([], "browser:me"), "en") == ""


def test_dates_are_whole_utc_days_both_included_and_anything_else_is_refused():
    assert period("2026-11-01", "2026-11-27") == ("2026-11-01", "2026-11-28")
    assert period("2026-11-27", "2026-11-01") == ("2026-11-01", "2026-11-28")  # swapped: meant between
    assert period(None, "") == ("", "")
    assert period("2026-11-27 13:45:00", None) == ("2026-11-27", "")
    assert period(1_764_201_600.0, None) == ("2025-11-27", "")  # gr.DateTime's timestamp form
    for bad in ("yesterday", "2026-13-01", "2026-11-270", True, ["2026-11-01"]):
        with pytest.raises(BadDate):
            period(bad, None)  # type: ignore[arg-type]


def a_vote(**more) -> Vote:
    fields = dict(model_a="glm-4.5v", model_b="GLM-4V", outcome="a",
                  choices_a=Choices(model="glm-4.5v", temperature=0.2), choices_b=Choices(model="GLM-4V"),
                  question="=HYPERLINK(\"http://evil\") 几个杯子？", images=(("cups.jpg", "ab" * 32),),
                  answer_a="Three.", answer_b="-2", blind=True, reasons=("wrong_count",), note="left one",
                  owner="browser:me", who="", at="2026-11-27T10:00:00Z")
    return Vote(**{**fields, **more})


def test_the_votes_csv_opens_in_excel_with_every_field_and_no_formula(tmp_path: Path):
    out = tmp_path / "votes.csv"
    assert export(out, "votes", [a_vote(id=7)], "en") == 1
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    header, row = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    got = dict(zip(header, row, strict=True))
    assert got["Model A"] == "glm-4.5v" and got["Better model"] == "glm-4.5v"
    assert (got["Vote no."], got["Vote"], got["Blind"]) == ("7", "A is better", "yes")
    assert got["Reasons"] == "Wrong count"
    assert got["Question"].startswith("'=HYPERLINK")  # text, not a formula
    assert got["Answer B"] == "'-2"
    assert got["Images"] == "cups.jpg" and got["Image SHA-256"] == "ab" * 32
    assert "temperature=0.2" in got["Choices A"]
    assert not list(tmp_path.glob("*.part"))


def test_the_votes_jsonl_keeps_every_field_as_data(tmp_path: Path):
    out = tmp_path / "votes.jsonl"
    export(out, "votes", [a_vote(), a_vote(outcome="both_bad", blind=False)], "zh")
    first, second = (json.loads(line) for line in out.read_text("utf-8").splitlines())
    assert first["choices_a"] == {**first["choices_a"], "model": "glm-4.5v", "temperature": 0.2}
    assert first["images"] == [{"name": "cups.jpg", "sha256": "ab" * 32}]
    assert (first["outcome"], first["winner"], first["blind"]) == ("a", "glm-4.5v", True)
    assert (second["outcome"], second["winner"], second["blind"]) == ("both_bad", "", False)
    assert first["question"].startswith("=HYPERLINK")  # data as it was, for scripts


@pytest.fixture
def store(tmp_path: Path):
    opened = open_store(tmp_path / "data")
    yield opened
    opened.close()


def rated_run(store, owner: str, title: str) -> int:
    digest = store.put_image(title.encode(), f"{title}.png", b"")
    run = store.create_run(title, owner, [Item(digest, f"{title}.png", "How many?")],
                           [Variant(Choices(model="glm-4.5v")), Variant(Choices(model="GLM-4V"))])
    first, second = store.cells(run.id)
    for cell in (first, second):
        store.save_answer(cell.id, f"answer of {title}", "",
                          AnswerRecord("GLM-4V" if cell.variant else "glm-4.5v", Choices(model="x")))
    store.rate(second.id, Rating(-1, ("wrong_count",), "one too many", "bob", "2026-11-27T11:00:00Z"))
    return run.id


def test_the_ratings_download_holds_every_rated_answer_the_viewer_may_see_and_no_other(store, tmp_path):
    rated_run(store, "browser:me", "mine")
    rated_run(store, "browser:other", "theirs")
    rated_run(store, "cli", "batch")
    rows = list(run_ratings(store, "browser:me"))
    assert [(r.run, r.model, r.verdict, r.reasons) for r in rows] == [
        ("mine", "GLM-4V", -1, ("wrong_count",)), ("batch", "GLM-4V", -1, ("wrong_count",))]
    assert rows[0].images == (("mine.png", rows[0].images[0][1]),) and rows[0].question == "How many?"
    chat = Rated("chat", "glm-4.5v", Choices(model="glm-4.5v"), "What is it?", (), "A cat.", 1)
    out = tmp_path / "ratings.csv"
    assert export(out, "ratings", [*rows, chat], "en") == 3  # chat ratings: rows of the same kind
    header, *body = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert [dict(zip(header, r, strict=True))["Rating"] for r in body] == ["bad", "bad", "good"]
    assert [dict(zip(header, r, strict=True))["Rated on"] for r in body] == ["Test page", "Test page", "Chat"]
    team = list(run_ratings(store, "user:alice"))
    assert [r.run for r in team] == ["batch"]  # the team's: none of the browsers' runs


def run(coroutine):
    return asyncio.run(coroutine)


def test_the_page_says_why_it_is_empty_and_counts_only_the_browser_s_own_votes(store):
    page = LeaderboardPage(store)
    english = Browser()
    head, ranking, matrix, reasons, _ = run(page.show(True, None, None, "all", "me", english))
    assert head.startswith("No votes yet: compare two models on the Compare page")
    assert ranking == matrix == reasons == ""
    store.add_vote(a_vote(owner="browser:me", blind=False))
    store.add_vote(a_vote(owner="browser:other"))
    head, *_ = run(page.show(True, None, None, "all", "me", english))
    assert "None of the 1 vote you can see" in head and "Blind votes only" in head
    head, ranking, *_ = run(page.show(False, None, None, "all", "me", english))
    assert "1 vote counted" in head.replace("**", "") and "glm-4.5v" in ranking
    head, *_ = run(page.show(False, None, None, "all", "stranger", Browser({"accept-language": "zh-CN"})))
    assert head.startswith("还没有投票")


def test_a_signed_in_viewer_sees_the_team_s_votes_and_a_bad_date_is_one_sentence(store):
    page = LeaderboardPage(store)
    store.add_vote(a_vote(owner="user:alice", who="alice"))
    store.add_vote(a_vote(owner="browser:someone"))  # from before sign-in was turned on
    bob = gr.Request(username="bob")
    head, *_ = run(page.show(True, "", "", "all", "", bob))
    assert "1 blind vote counted" in head.replace("**", "")
    votes = page.votes("user:bob", Filters(True, None, None, "all", "en"))
    assert [v.who for v in votes] == ["alice"]
    with pytest.raises(gr.Error, match="is not a date"):
        run(page.show(True, "last week", "", "all", "", bob))


def test_the_chat_s_thumbs_are_in_the_ratings_download_for_whoever_may_see_them(store):
    from ui.testing.chatratings import ChatRating

    for owner in ("browser:me", "browser:other"):
        store.add_chat_rating(ChatRating("GLM-4V", Choices(model="GLM-4V", temperature=0.2),
                                         "How many cups?", f"3 cups ({owner})", -1,
                                         (("cups.jpg", "ab" * 32),), ("wrong_count",), "two",
                                         owner, "", "2026-11-27T12:00:00Z", f"key-{owner}"))
    rows = LeaderboardPage(store).ratings("browser:me")
    [chat] = [r for r in rows if r.source == "chat"]
    assert (chat.model, chat.choices.temperature, chat.answer, chat.verdict, chat.reasons) == (
        "GLM-4V", 0.2, "3 cups (browser:me)", -1, ("wrong_count",))
    assert chat.images == (("cups.jpg", "ab" * 32),)


def test_a_model_with_a_handful_of_votes_shows_no_interval_that_would_read_as_certainty():
    one = board_html.ranking(build([outcome("A", "B", "a")], "browser:me"), "en")
    assert "an interval and a rank from 10 votes on" in one and "board-bar" not in one
    assert not re.search(r"\((\d+) – \1\)", one)  # not "(1264 – 1264)"
    ranks = re.findall(r"<tr><td>([^<]*)</td>", one)
    assert ranks == ["–", "–"]  # one vote does not make A first and B second
    many = board_html.ranking(build([outcome("A", "B", "a")] * 7 + [outcome("A", "B", "b")] * 5,
                                    "browser:me"), "en")
    assert "from 10 votes on" not in many and many.count("board-bar") == 2
    zh = board_html.ranking(build([outcome("A", "B", "a")], "browser:me"), "zh")
    assert "满 10 票后给出区间和名次" in zh
