"""What Hugging Face Spaces relies on: requirements.txt, README front matter, `app.demo`."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
import urllib.request

import gradio as gr
import pytest

from tests.conftest import ROOT, free_port


def _requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {line.replace(" ", "") for line in lines if line.strip() and not line.startswith("#")}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_requirements_txt_matches_pyproject_dependencies():
    declared = {d.replace(" ", "") for d in _pyproject()["project"]["dependencies"]}
    assert _requirements() == declared


def test_readme_front_matter_configures_a_gradio_space():
    front = (ROOT / "README.md").read_text().split("---")[1]
    fields = dict(line.split(":", 1) for line in front.strip().splitlines())
    fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
    pinned = next(d for d in _pyproject()["project"]["dependencies"] if d.startswith("gradio=="))
    assert fields["sdk"] == "gradio"
    assert fields["sdk_version"] == pinned.split("==")[1] == gr.__version__
    assert fields["app_file"] == "app.py"
    assert re.fullmatch(r"3\.\d+", fields["python_version"])


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"Run the tests:\s*```bash\n(.+?)\n```", readme, re.S)
    assert command and command.group(1) in (ROOT / ".ci" / "run").read_text()


def test_app_imports_like_spaces_and_its_demo_launches(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "spaces-secret")
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(ROOT)
    sys.modules.pop("app", None)
    app = importlib.import_module("app")
    try:
        assert isinstance(app.demo, gr.Blocks)
        port = free_port()
        app.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                        **{k: v for k, v in app.launch_kwargs(app.settings).items()
                           if k not in ("server_name", "server_port")})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            assert response.status == 200
            assert "spaces-secret" not in response.read().decode()
    finally:
        app.demo.close()
        sys.modules.pop("app", None)


def test_the_page_is_built_without_importing_the_endpoint_sdk():
    """The openai SDK costs ~0.2 s to import: app.py loads it after the page is served."""
    code = ("import sys; from ui.settings import Settings; from ui.page.layout import build_demo; "
            "build_demo(Settings.from_env()); assert 'openai' not in sys.modules; "
            "from ui.endpoint import warm_up; warm_up(); assert 'openai' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OPENAI_API_KEY": "x"}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_each_new_session_gets_the_import_buttons_schema_unchanged(monkeypatch):
    """The import button's schema is computed once, not per session: the page config is the same."""
    from gradio.state_holder import SessionState

    from ui.page.layout import build_demo
    from ui.settings import Settings

    monkeypatch.setenv("OPENAI_API_KEY", "x")
    demo = build_demo(Settings.from_env())
    button = next(b for b in demo.blocks.values() if isinstance(b, gr.UploadButton))
    expected = gr.UploadButton(file_types=[".json"]).api_info()
    assert expected["title"] == "FileData"
    for _ in range(2):
        config = SessionState(demo).config_values[button._id]
        assert config["api_info"] == config["api_info_as_input"] == config["api_info_as_output"] == expected


@pytest.mark.parametrize("preset", ["zhipu", "zai", "openai", "ollama", "vllm", "lmstudio"])
def test_presets_set_url_models_and_key_need(preset):
    from ui.settings import PRESETS, Settings

    settings = Settings.from_env({"GLM_PRESET": preset})
    assert settings.base_url == PRESETS[preset].base_url
    assert settings.models == PRESETS[preset].models
    assert settings.has_key is (not PRESETS[preset].needs_key)
    overridden = Settings.from_env({"GLM_PRESET": preset, "OPENAI_BASE_URL": "http://h/v1/"})
    assert overridden.base_url == "http://h/v1"


def test_uploads_are_deleted_on_schedule_and_the_chat_has_no_share_button():
    from ui.page.layout import build_demo
    from ui.settings import Settings

    demo = build_demo(Settings.from_env({"GLM_FILE_TTL": "120"}))
    assert demo.delete_cache == (120, 120)  # Gradio deletes files older than 120 s, every 120 s
    chatbots = [c for c in demo.config["components"] if c["type"] == "chatbot"]
    assert len(chatbots) == 5  # the chat's and the Compare page's four panes
    assert all("share" not in chatbot["props"]["buttons"] for chatbot in chatbots)
