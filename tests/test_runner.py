"""ui/testing/runner.py: a test run asked of the local fake endpoint over HTTP, cell by cell."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY, decode_image, make_image
from tests.fake_openai import FakeOpenAI, Reply
from tests.memory_store import MemoryStore
from ui.answer import Answerer
from ui.choices import Choices
from ui.settings import Settings
from ui.testing.cells import Item, Variant
from ui.testing.lease import Lease, iso
from ui.testing.runner import Hold, Limit, Progress, Runner

MODELS = "glm-4.5v,GLM-4V-Plus"


def answerer_for(fake: FakeOpenAI, tmp_path: Path, **env: str) -> Answerer:
    values = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY, "GLM_MODELS": MODELS,
              "GLM_RETRIES": "0", **env}
    return Answerer(Settings.from_env(values), tmp_path / "uploads")


def image_set(tmp_path: Path, count: int) -> tuple[list[Item], dict[str, str]]:
    """`count` distinct images; the items ask two questions of each; digest → path."""
    paths: dict[str, str] = {}
    items = []
    for i in range(count):
        path = make_image(tmp_path / f"img{i}.png", (40 + i, 30), (10 * i, 100, 200))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        paths[digest] = str(path)
        items += [Item(digest, path.name, "What colour?"), Item(digest, path.name, "How many?")]
    return items, paths


LOOP = asyncio.new_event_loop()  # one loop for the module: the SDK's connection pool lives in it


@pytest.fixture(autouse=True, scope="module")
def _close_loop():
    yield
    LOOP.close()


def run_all(runner: Runner, run: Any, **kwargs: Any) -> list[Progress]:
    async def go() -> list[Progress]:
        return [p async for p in runner.run(run, **kwargs)]

    return LOOP.run_until_complete(go())


def test_every_cell_is_asked_fresh_with_its_own_model_and_saved(fake, tmp_path):
    items, paths = image_set(tmp_path, 3)
    variants = [Variant(Choices(model="glm-4.5v", temperature=0.2)),
                Variant(Choices(model="GLM-4V-Plus", temperature=0.9))]
    store = MemoryStore()
    run = store.create_run("colours", "me", items, variants)
    progress = run_all(Runner(answerer_for(fake, tmp_path), store, paths.__getitem__), run)

    assert progress[-1].finished and not progress[-1].stopped
    assert (progress[-1].done, progress[-1].failed, progress[-1].remaining) == (12, 0, 0)
    assert store.runs_[run.id].status == "done"
    assert len(fake.requests) == 12
    for request in fake.requests:  # one user turn, one image: nothing leaks between cells
        messages = request.json["messages"]
        assert [m["role"] for m in messages] == ["user"] and len(request.images()) == 1
    for cell in store.each_cell(run.id):
        item, variant = items[cell.row], variants[cell.variant]
        assert cell.status == "done" and cell.attempts == 1
        assert cell.answer == f"Echo: {item.question} | images: 1 | turn: 1"
        assert cell.record is not None and cell.record.model == variant.choices.model
        assert cell.record.choices.temperature == variant.choices.temperature
    sent = sorted((r.json["model"], r.json["temperature"]) for r in fake.requests)
    assert sent == sorted([("glm-4.5v", 0.2)] * 6 + [("GLM-4V-Plus", 0.9)] * 6)


def test_stop_keeps_what_ended_and_resume_sends_no_finished_cell_again(tmp_path):
    items, paths = image_set(tmp_path, 4)
    store = MemoryStore()
    run = store.create_run("t", "me", items, [Variant(Choices(model="glm-4.5v"))])
    with FakeOpenAI(default=Reply(tokens=20, tps=200)) as fake:
        runner = Runner(answerer_for(fake, tmp_path), store, paths.__getitem__, start=2, most=2)

        async def stop_after_three() -> list[Progress]:
            stop, seen = asyncio.Event(), []
            async for p in runner.run(run, stop=stop):
                seen.append(p)
                if p.done == 3:
                    stop.set()
            return seen

        first = LOOP.run_until_complete(stop_after_three())
        assert first[-1].stopped and store.runs_[run.id].status == "stopped"
        done_before = {c.id for c in store.each_cell(run.id) if c.status == "done"}
        assert first[-1].done == len(done_before) >= 3  # a cell ending with the third counts too
        asked_before = len(fake.requests)

        second = run_all(runner, store.runs_[run.id])
        assert second[-1].finished and second[-1].done == 8 and not second[-1].stopped
        assert store.runs_[run.id].status == "done"
        later = fake.requests[asked_before:]
        assert len(later) == 8 - len(done_before)  # each cell not done, once; done ones: never
        asked = {(r.json["messages"][0]["content"][-1]["text"], decode_image(r.images()[0]).size)
                 for r in later}
        for cell in store.each_cell(run.id):
            item = items[cell.row]
            key = (item.question, (40 + int(item.name[3:-4]), 30))
            assert (key in asked) == (cell.id not in done_before)
            assert cell.attempts == 1 or cell.id not in done_before


class SavingSlowly(MemoryStore):
    """A store whose answer saves wait until `go` (a save in a worker thread that Stop overtakes)."""

    def __init__(self) -> None:
        super().__init__()
        self.saving, self.go = threading.Event(), threading.Event()

    def save_answer(self, *args: Any, **kwargs: Any) -> None:
        self.saving.set()
        assert self.go.wait(10)
        super().save_answer(*args, **kwargs)


def test_a_cell_stopped_while_its_answer_is_saved_ends_saved_and_counted(tmp_path):
    """Stop while a whole answer is being written: it is kept (the thread writes it anyway) and the
    run's count says so; before, the store had one more done cell than the page showed."""
    items, paths = image_set(tmp_path, 1)
    store = SavingSlowly()
    run = store.create_run("t", "me", items[:1], [Variant(Choices(model="glm-4.5v"))])
    with FakeOpenAI(default=Reply(tokens=5)) as fake:
        runner = Runner(answerer_for(fake, tmp_path), store, paths.__getitem__, start=1, most=1)

        async def stop_during_the_save() -> list[Progress]:
            stop, seen = asyncio.Event(), []

            async def follow() -> None:
                async for p in runner.run(run, stop=stop):
                    seen.append(p)

            following = asyncio.ensure_future(follow())
            assert await asyncio.to_thread(store.saving.wait, 10)
            stop.set()
            for _ in range(1000):  # turns of the loop until Stop has cancelled the cell
                if any(t.cancelling() for t in asyncio.all_tasks() if "_ask" in repr(t.get_coro())):
                    break
                await asyncio.sleep(0)
            else:
                raise AssertionError("Stop never reached the cell")
            store.go.set()
            await following
            return seen

        seen = LOOP.run_until_complete(stop_during_the_save())
    [cell] = list(store.each_cell(run.id))
    assert cell.status == "done"  # the answer was whole: kept
    assert seen[-1].finished and seen[-1].done == 1  # and counted as the store has it
    assert store.runs_[run.id].status == "done"


def test_a_rate_limited_endpoint_slows_the_run_down_and_no_cell_fails(tmp_path):
    items, paths = image_set(tmp_path, 8)  # 16 cells
    store = MemoryStore()
    run = store.create_run("t", "me", items, [Variant(Choices(model="glm-4.5v"))])
    # answers of 0.3 s: the first eight overlap however slowly a loaded machine sends them
    with FakeOpenAI(default=Reply(tokens=30, tps=100), max_concurrent=3) as fake:
        answerer = answerer_for(fake, tmp_path, GLM_RETRIES="3", GLM_RETRY_BACKOFF="0.01")
        progress = run_all(Runner(answerer, store, paths.__getitem__, start=8, most=8), run)
        assert progress[-1].done == 16 and progress[-1].failed == 0
        assert fake.refused > 0  # it did hit the limit
        assert min(p.concurrency for p in progress) <= 3  # and came down to what the endpoint takes
        assert all(c.status == "done" for c in store.each_cell(run.id))


def test_failed_cells_keep_their_reason_and_rerun_alone(fake, tmp_path):
    items, paths = image_set(tmp_path, 2)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    items.append(Item("f" * 64, "broken.png", "What is it?"))
    paths["f" * 64] = str(broken)
    store = MemoryStore()
    run = store.create_run("t", "me", items, [Variant(Choices(model="glm-4.5v"))])
    runner = Runner(answerer_for(fake, tmp_path), store, paths.__getitem__)
    progress = run_all(runner, run)
    assert (progress[-1].done, progress[-1].failed) == (4, 1)
    [failed] = [c for c in store.each_cell(run.id) if c.status == "failed"]
    assert failed.error == "image_unreadable" and failed.error_params.get("name") == "broken.png"
    assert len(fake.requests) == 4  # the broken image was never sent

    make_image(broken)  # the tester replaces the file, then "retry failed cells"
    again = run_all(runner, store.runs_[run.id])
    assert again[-1].done == 4 and len(fake.requests) == 4  # a plain resume does not retry it
    again = run_all(runner, store.runs_[run.id], retry_failed=True)
    assert (again[-1].done, again[-1].failed) == (5, 0) and len(fake.requests) == 5
    assert store.cells_[failed.id].status == "done" and store.cells_[failed.id].attempts == 2


def test_an_endpoint_error_is_saved_with_its_sentence_key(fake, tmp_path):
    items, paths = image_set(tmp_path, 1)
    store = MemoryStore()
    run = store.create_run("t", "me", items, [Variant(Choices(model="glm-4.5v"))])
    fake.script(Reply(status=400, error_code="1301", error_message="敏感内容"))
    progress = run_all(Runner(answerer_for(fake, tmp_path), store, paths.__getitem__, start=1), run)
    assert (progress[-1].done, progress[-1].failed) == (1, 1)
    [failed] = [c for c in store.each_cell(run.id) if c.status == "failed"]
    assert failed.error == "sensitive_input"
    assert failed.record is not None and failed.record.model == "glm-4.5v"


def test_limit_halves_once_per_wave_and_grows_while_all_goes_well():
    limit = Limit(8, 16)
    wave = limit.epoch
    for _ in range(5):  # five cells of the same wave refused at once
        limit.rate_limited(wave)
    assert limit.value == 4
    limit.rate_limited(limit.epoch)
    assert limit.value == 2
    for _ in range(2):
        limit.answered()
    assert limit.value == 3
    for _ in range(200):  # 3 + 4 + ... + 15 answers to reach 16
        limit.answered()
    assert limit.value == 16  # never above `most`
    for _ in range(20):  # refused at what had worked: one step down each time
        limit.rate_limited(limit.epoch)
    assert limit.value == 1  # never below one


def test_a_refused_step_up_goes_back_one_step_and_the_next_try_waits_longer():
    limit = Limit(16, 32)  # against an endpoint that takes 8 at once
    limit.rate_limited(limit.epoch)
    assert limit.value == 8
    for _ in range(8):
        limit.answered()
    assert limit.value == 9  # 8 proven: one more is tried
    limit.rate_limited(limit.epoch)
    assert limit.value == 8  # back to what worked, not to half of it (4)
    for _ in range(31):
        limit.answered()
    assert limit.value == 8  # the next try waits 4 × 8 answers, not 8
    limit.answered()
    assert limit.value == 9
    limit.rate_limited(limit.epoch)
    assert limit.value == 8
    limit.rate_limited(limit.epoch)  # refused at a value that had worked: the limit is near
    assert limit.value == 7


@pytest.mark.parametrize("count", [0])
def test_an_empty_run_finishes_at_once(fake, tmp_path, count):
    store = MemoryStore()
    run = store.create_run("t", "me", [], [Variant(Choices(model="glm-4.5v"))])
    progress = run_all(Runner(answerer_for(fake, tmp_path), store, str), run)
    assert progress[-1].finished and progress[-1].total == count and fake.requests == []


def test_a_run_goes_on_without_the_page_and_a_restart_leaves_it_resumable(tmp_path):
    from ui.testing.manager import Runs

    items, paths = image_set(tmp_path, 3)
    store = MemoryStore()
    run = store.create_run("t", "me", items, [Variant(Choices(model="glm-4.5v"))])
    with FakeOpenAI(default=Reply(tokens=20, tps=400)) as fake:
        runs = Runs(answerer_for(fake, tmp_path), store, paths.__getitem__)

        async def start_then_wait() -> tuple[bool, bool]:
            started = runs.start(run.id)
            again = runs.start(run.id)  # a second Run press while it runs starts nothing
            await runs.wait(run.id)
            return started, again

        assert LOOP.run_until_complete(start_then_wait()) == (True, False)
        progress, changed = runs.progress(run.id)
        assert progress is not None and progress.finished and progress.done == 6 and changed >= 7
        assert not runs.running(run.id) and store.runs_[run.id].status == "done"

    crashed = store.create_run("t2", "me", items, [Variant(Choices(model="glm-4.5v"))])
    store.set_status(crashed.id, "running")  # as a server killed mid-run leaves it
    assert Runs(answerer_for(fake, tmp_path), store, paths.__getitem__).recover() == 1
    assert store.runs_[crashed.id].status == "stopped"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_wave_refused_together_counts_once_and_holds_nothing_the_next_in_a_row_backs_off():
    clock = Clock()
    hold = Hold(1.0, clock)
    started = clock.now
    clock.now += 0.05
    for _ in range(8):  # 8 cells sent together, all refused: one refusal, the Limit's cut is enough
        hold.refused(started)
    assert hold.row == 1 and hold.wait() == 0
    again = clock.now  # a cell sent after that refusal was known, refused too: now the line waits
    clock.now += 0.01
    for _ in range(8):  # ... and its wave, sent together with it, does not double the wait 8 times
        hold.refused(again)
    assert hold.row == 2 and 1.0 <= hold.wait() <= 1.25
    clock.now += hold.wait()
    assert hold.wait() == 0
    waits = []
    for _ in range(8):  # each refusal after the last hold ended doubles it, up to 30 s
        sent = clock.now
        clock.now += 0.01
        hold.refused(sent)
        waits.append(hold.wait())
        clock.now += hold.wait()
    assert all(2.0 * 2 ** n <= w <= 2.5 * 2 ** n for n, w in enumerate(waits[:4]))
    assert waits[-1] == pytest.approx(30.0) and max(waits) == pytest.approx(30.0)  # the cap


def test_an_answer_resets_the_backoff_and_retry_after_is_waited_as_asked():
    clock = Clock()
    hold = Hold(1.0, clock)
    for _ in range(3):
        sent = clock.now
        clock.now += hold.wait() + 0.01
        hold.refused(sent)
    assert hold.row == 3 and hold.wait() >= 2.0
    hold.answered()  # the endpoint answers again: the next refusal starts a new row
    clock.now += hold.wait()
    sent = clock.now
    clock.now += 0.01
    hold.refused(sent)
    assert hold.row == 1 and hold.wait() == 0
    hold.refused(sent, retry_after=2.5)  # the endpoint says how long, even within a wave
    assert hold.wait() == pytest.approx(2.5)
    hold.refused(clock.now, retry_after=600)  # at most 30 s, then the cell is asked again
    assert hold.wait() == pytest.approx(30.0)


def test_a_refused_cell_goes_back_in_line_instead_of_sleeping_in_its_place(tmp_path, monkeypatch):
    import ui.endpoint.stream as stream

    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:  # the answer loop's retry wait, inside the cell
        slept.append(delay)
        await real_sleep(0)

    class Asyncio:  # stream.py's asyncio, with its sleep watched (the fake's own is untouched)
        def __getattr__(self, name: str) -> Any:
            return sleep if name == "sleep" else getattr(asyncio, name)

    monkeypatch.setattr(stream, "asyncio", Asyncio())
    items, paths = image_set(tmp_path, 6)  # 12 cells
    store = MemoryStore()
    run = store.create_run("t", "me", items, [Variant(Choices(model="glm-4.5v"))])
    with FakeOpenAI(default=Reply(tokens=10, tps=200), max_concurrent=2) as fake:
        answerer = answerer_for(fake, tmp_path, GLM_RETRIES="3", GLM_RETRY_BACKOFF="0.01")
        progress = run_all(Runner(answerer, store, paths.__getitem__, start=6, most=6), run)
        assert fake.refused > 0  # it ran into the limit
        assert (progress[-1].done, progress[-1].failed) == (12, 0)
        assert slept == []  # no refused cell waited in its place, holding a slot
        assert len(fake.requests) == 12 + fake.refused  # each refusal asked again once, later

        # the chat keeps its retries: "retrying 1/3…" and the wait, then the answer
        fake.max_concurrent = None
        fake.script(Reply(status=429, error_code="1302"), Reply(text="ok"))
        from ui.endpoint import ChatRequest, Retrying, stream_chat

        request = ChatRequest(model="glm-4.5v", messages=[{"role": "user", "content": "hi"}],
                              max_tokens=16)

        async def chat() -> list[Any]:
            return [e async for e in stream_chat(answerer.client(""), request, retries=3, backoff=0.01)]

        events = LOOP.run_until_complete(chat())
        assert [type(e) for e in events if isinstance(e, Retrying)] == [Retrying] and slept


def test_a_rate_limited_cell_that_never_gets_in_fails_after_its_requeues(tmp_path):
    from ui.testing.runner import REQUEUES

    items, paths = image_set(tmp_path, 1)
    store = MemoryStore()
    run = store.create_run("t", "me", items[:1], [Variant(Choices(model="glm-4.5v"))])
    with FakeOpenAI(default=Reply(status=429, error_code="1302", headers={"Retry-After": "0"})) as fake:
        answerer = answerer_for(fake, tmp_path, GLM_RETRIES="3", GLM_RETRY_BACKOFF="0.001")
        progress = run_all(Runner(answerer, store, paths.__getitem__, start=1), run)
        assert (progress[-1].done, progress[-1].failed) == (0, 1)
        assert len(fake.requests) == REQUEUES + 1
        [cell] = store.each_cell(run.id)
        assert cell.error == "rate_limited"


# --- the run's lease (ui/testing/lease.py) ---------------------------------------------------------

T0 = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


class UtcClock:
    """A process's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class HeldSaves(MemoryStore):
    """Saving an answer waits until the test lets it: the run is mid-way as long as it likes."""

    def __init__(self) -> None:
        super().__init__()
        self.saving, self.go_on = threading.Event(), threading.Event()

    def save_answer(self, cell_id: int, answer: str, thinking: str, record: Any) -> None:
        self.saving.set()
        self.go_on.wait(30)
        super().save_answer(cell_id, answer, thinking, record)


async def until(condition: Any, timeout: float = 10.0) -> None:
    """Wait for a condition (the renewal task is another task of this loop)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never came"
        await asyncio.sleep(0.005)


def test_the_runner_renews_its_lease_while_it_asks_and_gives_it_up_at_the_end(fake, tmp_path):
    items, paths = image_set(tmp_path, 1)  # two cells
    store = HeldSaves()
    run = store.create_run("t", "me", items, [Variant(Choices(model="glm-4.5v"))])
    clock = UtcClock()
    lease = Lease(store, run.id, "here:1:aa", seconds=60, every=0.01, clock=clock)
    assert lease.claim()
    runner = Runner(answerer_for(fake, tmp_path), store, paths.__getitem__, start=1, most=1)

    async def go() -> list[Progress]:
        task = asyncio.ensure_future(collect(runner.run(run, lease=lease)))
        await asyncio.to_thread(store.saving.wait, 30)  # the first answer is being saved
        clock.advance(50)
        renewed = iso(T0 + timedelta(seconds=110))
        await until(lambda: store.leases[run.id] == ("here:1:aa", renewed))
        assert not [c for c in store.claims if c[1] != "here:1:aa"]
        clock.advance(30)  # past the lease first claimed (T0 + 60 s), within the renewed one
        other = Lease(store, run.id, "there:2:bb", clock=clock)
        assert not other.claim() and other.elsewhere()
        assert store.stop_running(iso(clock.now)) == 0  # a server starting now leaves it running
        store.go_on.set()
        return await task

    progress = LOOP.run_until_complete(go())
    assert progress[-1].finished and progress[-1].done == 2 and not progress[-1].stopped
    assert store.runs_[run.id].status == "done" and store.run_lease(run.id) is None
    assert len(fake.requests) == 2
    # renewals came from the timer, not one per cell: the clock only moved twice
    assert {until_ for _, _, until_ in store.renewals} <= {iso(T0 + timedelta(seconds=s))
                                                           for s in (60, 110, 140)}


def test_a_runner_whose_lease_was_taken_stops_and_leaves_the_run_to_its_new_holder(fake, tmp_path):
    items, paths = image_set(tmp_path, 2)  # four cells
    store = HeldSaves()
    run = store.create_run("t", "me", items, [Variant(Choices(model="glm-4.5v"))])
    stalled = UtcClock()  # this process's clock, as it was when it stalled
    lease = Lease(store, run.id, "here:1:aa", seconds=60, every=0.01, clock=stalled)
    assert lease.claim()
    runner = Runner(answerer_for(fake, tmp_path), store, paths.__getitem__, start=1, most=1)

    async def go() -> list[Progress]:
        task = asyncio.ensure_future(collect(runner.run(run, lease=lease)))
        await asyncio.to_thread(store.saving.wait, 30)
        later = UtcClock()
        later.advance(61)  # another server, after this one's lease ran out, took the run
        assert Lease(store, run.id, "there:2:bb", clock=later).claim()
        progress = await task  # the next renewal finds it lost: the run stops here
        store.go_on.set()
        return progress

    progress = LOOP.run_until_complete(go())
    assert progress[-1].stopped
    assert len(fake.requests) == 1  # no cell after the lease was lost
    assert store.runs_[run.id].status == "running" and store.leases[run.id][0] == "there:2:bb"


async def collect(progress: Any) -> list[Progress]:
    return [p async for p in progress]


def test_resume_of_a_run_another_process_asks_asks_nothing_here(fake, tmp_path):
    from ui.testing.manager import Runs

    items, paths = image_set(tmp_path, 2)
    store = MemoryStore()
    run = store.create_run("t", "cli", items, [Variant(Choices(model="glm-4.5v"))])
    clock = UtcClock()
    assert Lease(store, run.id, "batch-host:42:bb", clock=clock).claim()  # a batch command asks it
    runs = Runs(answerer_for(fake, tmp_path), store, paths.__getitem__, holder="app-host:7:aa",
                clock=clock)

    async def resume() -> bool:
        return runs.start(run.id) or runs.start(run.id, retry_failed=True)

    assert LOOP.run_until_complete(resume()) is False
    assert runs.held_elsewhere(run.id) and not runs.running(run.id)
    assert runs.recover() == 0 and store.runs_[run.id].status == "running"
    assert fake.requests == []
    clock.advance(61)  # the batch was killed: its lease ran out, Resume takes the run
    assert not runs.held_elsewhere(run.id)

    async def resume_and_wait() -> bool:
        started = runs.start(run.id)
        await runs.wait(run.id)
        return started

    assert LOOP.run_until_complete(resume_and_wait())
    assert len(fake.requests) == 4 and store.runs_[run.id].status == "done"
