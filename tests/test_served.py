"""The upload folder the app reads (ui/page/served.py) is the one Gradio stores files in: the app
sends only files from it, so every question with an image depends on the two agreeing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ui.page.served import new_folder, upload_folder


@pytest.mark.parametrize("temp_dir", [None, "set"])
def test_the_upload_folder_is_where_gradio_puts_files(temp_dir, tmp_path, monkeypatch):
    import gradio as gr

    if temp_dir is None:
        monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    else:
        monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    # GRADIO_CACHE: the folder a component caches and serves its files from (Gradio 6.31)
    assert Path(gr.File(render=False).GRADIO_CACHE) == upload_folder()


def test_a_new_folder_is_a_fresh_one_inside_the_upload_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    one, two = new_folder("exports"), new_folder("exports")
    assert one != two and one.is_dir() and one.parent.parent == tmp_path
