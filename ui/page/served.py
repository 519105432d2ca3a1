"""Where the app writes files for a visitor: Gradio's upload folder, the one place Gradio serves a
file from without copying it (a gr.File output elsewhere is copied into it first) and which it
clears with the uploads (`delete_cache`). The folder honours GRADIO_TEMP_DIR; Gradio has no
public name for it, so `gradio.utils.get_upload_folder` is read here and only here.
Every question with an image fails if Gradio stores uploads anywhere else (the app only sends
files from this folder, ui/paths.py Roots), e.g.
tests/test_app.py::test_browser_upload_ask_stream_and_follow_up."""

from __future__ import annotations

import uuid
from pathlib import Path

from gradio.utils import get_upload_folder


def upload_folder() -> Path:
    """Gradio's upload folder: visitors' uploads, and the only server files a request may name."""
    return Path(get_upload_folder())


def new_folder(kind: str) -> Path:
    """A fresh folder of its own in the upload folder, for files one visitor downloads."""
    folder = upload_folder() / kind / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True, exist_ok=True)
    return folder
