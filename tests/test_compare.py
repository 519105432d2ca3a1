"""The Compare page in headless Chromium, as a person meets it: one question, two models side by
side, each with its own history; a vote; a blind round whose names reach the browser only with
the vote."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_KEY, AppProcess, make_image, start_app, stop_app
from tests.fake_openai import FakeOpenAI, Reply
from ui.store import open_store

MODELS = ("GLM-4V-Plus", "GLM-4V")
REFUSED = "This request names a file that was not uploaded to this page: attach the image again."


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compare-data")


@pytest.fixture(scope="module")
def compare_app(module_fake: FakeOpenAI, data_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    running = start_app({"OPENAI_BASE_URL": module_fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                         "GLM_MODELS": ",".join(MODELS), "GLM_DATA_DIR": str(data_dir)},
                        tmp_path_factory.mktemp("compare-app"))
    try:
        yield running
    finally:
        stop_app(running)


@pytest.fixture(autouse=True)
def _fresh(module_fake: FakeOpenAI) -> None:
    module_fake.reset()


# Every chunk of every fetch or EventSource the page reads, as it arrives (the answers stream).
SEEN_JS = """
(() => {
  window.__seen = [];
  const fetched = window.fetch;
  window.fetch = async (...args) => {
    const response = await fetched(...args);
    const reader = response.clone().body?.getReader();
    const text = new TextDecoder();
    if (reader) (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        window.__seen.push(text.decode(value, { stream: true }));
      }
    })().catch(() => {});
    return response;
  };
  const Source = window.EventSource;
  if (Source) window.EventSource = class extends Source {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => window.__seen.push(e.data));
    }
  };
})();
"""


def open_compare(page, url: str):
    from playwright.sync_api import expect

    page.goto(url.rstrip("/") + "/compare")
    expect(page.locator("#compare-input textarea")).to_be_visible(timeout=30_000)


def ask(page, text: str, image: Path | None = None) -> None:
    from playwright.sync_api import expect

    if image is not None:
        page.locator("#compare-input input[type=file]").set_input_files(str(image))
        expect(page.locator("#compare-input .thumbnail-item, #compare-input img").first).to_be_visible(
            timeout=10_000)
    page.locator("#compare-input textarea").fill(text)
    page.locator("#compare-input textarea").press("Enter")


def pane_text(page, pane: int) -> str:
    return page.locator(f"#compare-chat-{pane} .bot").last.inner_text()


def votes_in(data_dir: Path) -> list:
    store = open_store(data_dir, "")
    try:
        return store.votes()
    finally:
        store.close()


def test_two_chosen_models_answer_side_by_side_each_with_its_own_history(
        compare_app: AppProcess, browser, module_fake: FakeOpenAI, data_dir: Path, tmp_path):
    """Both panes stream at once; the follow-up each model gets carries its own pane's answer and
    never the other's; the vote is kept with the models, the question and the image's hash."""
    from playwright.sync_api import expect

    module_fake.default = Reply(text="first answer from this pane", tps=40)
    image = make_image(tmp_path / "shelf.png", (90, 60), (10, 160, 90))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_compare(page, compare_app.url)
        page.locator("#compare-mode").get_by_label("Choose the models").check()
        expect(page.locator("#compare-model-0 input")).to_have_value(MODELS[0], timeout=10_000)
        expect(page.locator("#compare-model-1 input")).to_have_value(MODELS[1])
        # Pane B at another temperature: the choices travel per pane.
        page.locator("#compare-temperature-1 input[type=number]").fill("0.2")
        page.locator("#compare-temperature-1 input[type=number]").press("Enter")
        ask(page, "How many bottles?", image)
        # Both requests are out before either answer ends (they stream side by side).
        first = module_fake.wait_for_requests(2, timeout=30)
        assert {r.json["model"] for r in first} == set(MODELS)
        expect(page.locator("#compare-vote-a")).to_be_visible(timeout=30_000)
        assert module_fake.peak_concurrency == 2
        for pane in (0, 1):
            expect(page.locator(f"#compare-chat-{pane}")).to_contain_text("first answer from this pane")
        temperatures = {r.json["model"]: r.json.get("temperature") for r in first}
        assert temperatures[MODELS[1]] == pytest.approx(0.2)

        # Each pane's follow-up carries only its own history: script distinct answers per model.
        module_fake.reset()
        module_fake.default = Reply(tps=40)  # the echo reply: "Echo: <question> | ... | turn: 2"
        ask(page, "And on the top shelf?")
        follow = module_fake.wait_for_requests(2, timeout=30)
        expect(page.locator("#compare-vote-a")).to_be_visible(timeout=30_000)
        for r in follow:
            history = [m for m in r.messages() if m["role"] == "assistant"]
            assert len(history) == 1 and "first answer from this pane" in json.dumps(history)
            assert len(r.images()) == 1  # the first turn's image, sent again with its own history
        expect(page.locator("#compare-chat-0")).to_contain_text("turn: 2")
        expect(page.locator("#compare-stats-0")).to_contain_text("tokens")
        expect(page.locator("#compare-stats-1")).to_contain_text("tokens")

        page.locator("#compare-reasons").get_by_label("Wrong count").check()
        page.locator("#compare-note textarea").fill("B missed the top shelf")
        page.locator("#compare-vote-a").click()
        expect(page.locator("#compare-result")).to_contain_text("vote is kept", timeout=10_000)
        [vote] = votes_in(data_dir)[-1:]
        assert (vote.model_a, vote.model_b, vote.outcome) == (MODELS[0], MODELS[1], "a")
        assert vote.blind is False and vote.question == "And on the top shelf?"
        assert vote.reasons == ("wrong_count",) and vote.note == "B missed the top shelf"
        assert vote.choices_b.temperature == pytest.approx(0.2)
        assert "turn: 2" in vote.answer_a
        # The follow-up's images are the first turn's: the vote names the question's own (none).
        assert vote.images == ()

        # The same browser downloads it from the Leaderboard (a vote with names shown: not blind).
        page.locator("#nav-to-leaderboard").click()
        expect(page.locator("#board-summary")).to_be_visible(timeout=30_000)
        page.locator("#board-blind input").uncheck()
        expect(page.locator("#board-summary")).to_contain_text("1 vote", timeout=10_000)
        page.locator("#board-votes-csv").click()
        link = page.locator("#board-downloads a[href*='.csv']").first
        expect(link).to_be_visible(timeout=30_000)
        href = link.get_attribute("href") or ""
        data = httpx.get(href if href.startswith("http") else compare_app.url.rstrip("/") + href,
                         timeout=30).content
        header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        [row] = [dict(zip(header, r, strict=True)) for r in rows]
        assert row["Better model"] == MODELS[0] and row["Question"] == "And on the top shelf?"
        assert "B missed the top shelf" in row.values() and TEST_KEY not in data.decode("utf-8-sig")
    finally:
        page.close()


def test_stop_ends_both_panes_and_keeps_what_arrived(compare_app: AppProcess, browser,
                                                     module_fake: FakeOpenAI):
    from playwright.sync_api import expect

    module_fake.default = Reply(text="slow words " * 5, tokens=400, tps=20)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_compare(page, compare_app.url)
        ask(page, "Describe it slowly")
        for pane in (0, 1):
            expect(page.locator(f"#compare-chat-{pane}")).to_contain_text("slow words", timeout=30_000)
        page.locator("#compare-input button.stop-button").click()
        for pane in (0, 1):
            expect(page.locator(f"#compare-chat-{pane}")).to_contain_text("Stopped", timeout=30_000)
            assert "slow words" in page.locator(f"#compare-chat-{pane}").inner_text()
    finally:
        page.close()


def test_retry_asks_one_pane_again_and_keeps_its_earlier_answer(compare_app: AppProcess, browser,
                                                                module_fake: FakeOpenAI):
    from playwright.sync_api import expect

    module_fake.default = Reply(text="the first try", tps=80)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_compare(page, compare_app.url)
        page.locator("#compare-mode").get_by_label("Choose the models").check()
        expect(page.locator("#compare-model-1 input")).to_have_value(MODELS[1], timeout=10_000)
        ask(page, "What is it?")
        expect(page.locator("#compare-vote-a")).to_be_visible(timeout=30_000)
        module_fake.reset()
        module_fake.default = Reply(text="the second try", tps=80)
        page.locator("#compare-retry-1").click()
        expect(page.locator("#compare-chat-1")).to_contain_text("the second try", timeout=30_000)
        [again] = module_fake.wait_for_requests(1, timeout=10)
        assert again.json["model"] == MODELS[1]
        expect(page.locator("#compare-chat-1")).to_contain_text("Earlier answer")  # folded, kept
        page.locator("#compare-chat-1").get_by_text("Earlier answer").click()
        expect(page.locator("#compare-chat-1")).to_contain_text("the first try")
        assert "the second try" not in page.locator("#compare-chat-0").inner_text()
        module_fake.wait_idle()
        assert module_fake.request_count == 1
    finally:
        page.close()


def test_a_blind_round_names_no_model_before_the_vote(compare_app: AppProcess, browser,
                                                      module_fake: FakeOpenAI, data_dir: Path):
    """Not in the page's HTML, not in any response the browser got; shown after the vote, which
    is kept as blind."""
    from playwright.sync_api import expect

    module_fake.default = Reply(tps=60)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    bodies: list[tuple[str, str]] = []

    def keep(response) -> None:
        with contextlib.suppress(Exception):  # a stream cut short has nothing to read
            bodies.append((response.url, response.text()))

    page.on("response", keep)
    page.add_init_script(SEEN_JS)  # the streamed responses, which Playwright cannot read whole
    named = re.compile("|".join(re.escape(m) for m in MODELS), re.IGNORECASE)
    try:
        open_compare(page, compare_app.url)
        expect(page.get_by_role("radio", name=re.compile("^Blind"))).to_be_checked()
        ask(page, "Which model are you?")
        expect(page.locator("#compare-vote-b")).to_be_visible(timeout=30_000)
        expect(page.locator("#compare-chat-1")).to_contain_text("Model B")
        assert module_fake.request_count == 2
        assert not named.search(page.content())
        seen = page.evaluate("window.__seen.join('')")
        assert "process_generating" in seen and "Echo" in seen, "the answers' stream was not read"
        assert not named.search(seen)
        assert [url for url, body in bodies if named.search(body)] == []

        page.locator("#compare-vote-b").click()
        expect(page.locator("#compare-result")).to_contain_text("The models were", timeout=10_000)
        heads = page.locator("#compare-head-0").inner_text() + page.locator("#compare-head-1").inner_text()
        assert sorted(named.findall(heads)) == sorted(MODELS)
        vote = votes_in(data_dir)[-1]
        assert vote.blind is True and vote.outcome == "b" and {vote.model_a, vote.model_b} == set(MODELS)

        # A follow-up after the names are shown: its vote is kept, marked not blind.
        ask(page, "And now?")
        expect(page.locator("#compare-vote-tie")).to_be_visible(timeout=30_000)
        page.locator("#compare-vote-tie").click()
        expect(page.locator("#compare-result")).to_contain_text("vote is kept", timeout=10_000)
        assert votes_in(data_dir)[-1].blind is False
    finally:
        page.close()


class ComparePage:
    """One session of the Compare page over raw HTTP: forged calls, as a script would make them."""

    def __init__(self, app: AppProcess) -> None:
        self.session = uuid.uuid4().hex[:12]
        self.http = httpx.Client(base_url=app.url, timeout=30)
        config = self.http.get("config", params={"page": "compare"}).json()
        self.fns = {d.get("api_name"): d["id"] for d in config["dependencies"]}

    def run(self, api_name: str, data: list[Any]) -> str:
        """Call one event; everything the session was sent back, as text."""
        body = json.dumps({"data": data, "fn_index": self.fns[api_name],  # NaN as a script sends it
                           "session_hash": self.session, "event_data": None, "trigger_id": None})
        self.http.post("gradio_api/queue/join", content=body,
                       headers={"content-type": "application/json"}).raise_for_status()
        lines = []
        with self.http.stream("GET", f"gradio_api/queue/data?session_hash={self.session}") as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if '"process_completed"' in line:
                    break
        return "\n".join(lines)


def test_forged_compare_calls_read_no_file_and_send_no_nonsense(compare_app: AppProcess,
                                                                module_fake: FakeOpenAI, tmp_path):
    secret = tmp_path / "secret.png"
    make_image(secret, (20, 20))
    page = ComparePage(compare_app)
    controls = [*MODELS, "", "", float("nan"), "hot", 0.3, None, "many", 5, "evil", "yes", ""]
    for file in ({"path": str(secret)}, {"path": str(secret), "meta": {"_type": "gradio.FileData"}}):
        forged = page.run("compare_ask", [{"text": "what is it", "files": [file]}, None, "named",
                                          "3", *controls])
        # Gradio's own checks refuse both (no meta; not an upload), before ours (ui/page/edge.py)
        # would: the same answer as the chat's events get (tests/test_attacks.py).
        assert REFUSED in forged or '"error":null' in forged, forged
        assert "Traceback" not in forged
    assert module_fake.request_count == 0
    # Numbers no control could hold are the defaults instead; the question still goes out.
    page.run("compare_ask", [{"text": "what is it", "files": []}, None, "named", 9, *controls])
    sent = module_fake.wait_for_requests(2, timeout=30)
    assert sorted(r.json["model"] for r in sent) == sorted(MODELS)
    assert all(isinstance(r.json.get("temperature", 0.7), float) for r in sent)
    assert all(r.json["max_tokens"] > 0 for r in sent)
    # A vote with nothing to vote on, or on a pane that is not there: one sentence, nothing kept.
    fresh = ComparePage(compare_app)
    said = fresh.run("compare_vote_a", [None, ["misread_text"], "x" * 10, "browser"])
    assert "no new answer to vote on" in said
