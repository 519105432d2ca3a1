"""`glm-vision-chat batch`: the command a developer schedules, run as a process against the local
fake endpoint: results file, exit status, progress, and a run killed mid-way then resumed."""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, make_image
from tests.fake_openai import FakeOpenAI, Reply
from ui.store import open_store

ROOT = Path(__file__).resolve().parent.parent


def command() -> list[str]:
    """The installed console script (pip install -e . makes it), else the module it runs."""
    script = Path(sys.executable).with_name("glm-vision-chat")
    if script.exists():
        return [str(script)]
    if os.environ.get("CI"):
        pytest.fail("pip install -e . did not install the glm-vision-chat command")
    return [sys.executable, "-m", "ui.cli"]


def env_for(fake: FakeOpenAI, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GLM_"))}
    env.update({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                "GLM_MODELS": "glm-4.5v,GLM-4V-Plus", "GLM_DATA_DIR": str(data), "GLM_RETRIES": "0",
                "PYTHONUNBUFFERED": "1"})
    env.pop("DATABASE_URL", None)
    return env


def photos(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        make_image(folder / f"photo{i}.jpg", (60 + i, 40), (20 * i, 90, 160), "JPEG")
    (folder / "readme.txt").write_text("not an image")
    return folder


def test_batch_asks_every_image_every_question_of_every_model_into_a_csv(fake, tmp_path):
    folder = photos(tmp_path / "set", 3)
    out = tmp_path / "results.csv"
    done = subprocess.run([*command(), "batch", str(folder), "--question", "What is it?",
                           "--question", "Any text?", "--model", "glm-4.5v", "--model", "GLM-4V-Plus",
                           "--temperature", "0.3", "--out", str(out)],
                          env=env_for(fake, tmp_path / "data"), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "readme.txt" in done.stderr or "1 file" in done.stderr  # what was left out is said
    assert "12/12" in done.stderr and str(out) in done.stderr
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert len(body) == 12
    model = header.index("Model")
    answer = header.index("Answer")
    assert sorted({r[model] for r in body}) == ["GLM-4V-Plus", "glm-4.5v"]
    assert all(r[answer].startswith("Echo: ") and "| images: 1 | turn: 1" in r[answer] for r in body)
    assert len(fake.requests) == 12
    assert {r.json["temperature"] for r in fake.requests} == {0.3}


def test_batch_that_cannot_run_says_why_and_exits_2(fake, tmp_path):
    folder = photos(tmp_path / "set", 1)
    base = [*command(), "batch", str(folder), "--question", "q", "--model", "glm-4.5v"]
    env = env_for(fake, tmp_path / "data")
    cases = {
        "bad suffix": ([*base, "--out", str(tmp_path / "r.txt")], env),
        "no key": ([*base, "--out", str(tmp_path / "r.csv")], {**env, "OPENAI_API_KEY": ""}),
        "unknown model": ([*command(), "batch", str(folder), "--question", "q", "--model", "gpt-x",
                           "--out", str(tmp_path / "r.csv")], env),
        "no images": ([*command(), "batch", str(tmp_path / "empty"), "--question", "q", "--model",
                       "glm-4.5v", "--out", str(tmp_path / "r.csv")], env),
    }
    (tmp_path / "empty").mkdir()
    for name, (argv, environment) in cases.items():
        done = subprocess.run(argv, env=environment, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2, (name, done.stderr)
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("glm-vision-chat batch: ") and "Traceback" not in done.stderr, name
    assert fake.requests == []


def test_batch_killed_mid_run_resumes_without_asking_a_finished_cell_again(tmp_path):
    folder = photos(tmp_path / "set", 10)
    data = tmp_path / "data"
    out = tmp_path / "results.jsonl"
    with FakeOpenAI(default=Reply(tokens=30, tps=60)) as fake:  # each answer takes ~0.5 s
        argv = [*command(), "batch", str(folder), "--question", "What is it?", "--model", "glm-4.5v",
                "--out", str(out)]
        first = subprocess.Popen(argv, env=env_for(fake, data), cwd=tmp_path, text=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert first.stderr is not None
        for line in first.stderr:  # progress lines, one per tenth of the run
            if "4/10" in line or "5/10" in line or "6/10" in line:
                break
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert not out.exists()

        store = open_store(data)
        [run] = store.runs()
        finished = {c.id for c in store.each_cell(run.id) if c.status == "done"}
        assert 4 <= len(finished) < 10
        store.close()
        asked_before = len(fake.requests)

        second = subprocess.run([*argv, "--resume"], env=env_for(fake, data), cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        later = fake.requests[asked_before:]
        assert len(later) == 10 - len(finished)  # every cell not done, once; none done again

    store = open_store(data)
    [again] = store.runs()
    assert again.id == run.id and again.done == 10
    assert all(c.attempts == 1 for c in store.each_cell(run.id) if c.id in finished)
    store.close()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10


@pytest.mark.skipif(shutil.which("glm-vision-chat") is None and not os.environ.get("CI"),
                    reason="the console script is installed by pip install -e .")
def test_the_command_alone_serves_the_app(tmp_path):
    """`glm-vision-chat` with no argument is `python app.py`: it prints the local URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GLM_"))}
    from tests.conftest import free_port

    port = free_port()
    env.update({"GRADIO_SERVER_PORT": str(port), "OPENAI_API_KEY": "x", "GLM_DATA_DIR": str(tmp_path)})
    process = subprocess.Popen(command(), env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if f"127.0.0.1:{port}" in line:
                break
        else:
            pytest.fail("the app did not start")
    finally:
        process.terminate()
        process.wait(timeout=30)
