"""Where the app writes files for a visitor: Gradio's upload folder, the one place Gradio serves a
file from without copying it (a gr.File output elsewhere is copied into it first) and which it
clears with the uploads (`delete_cache`). Gradio has no public function that names it; its
documented setting does: GRADIO_TEMP_DIR, else "gradio" in the system's temporary folder. That
rule is followed here, and only here, rather than importing Gradio's private helper. Every question
with an image fails if Gradio stores uploads anywhere else (the app only sends files from this
folder, ui/paths.py Roots), e.g. tests/test_app.py::test_browser_upload_ask_stream_and_follow_up,
and tests/test_served.py checks the rule against where Gradio's components put their files."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path


def upload_folder() -> Path:
    """Gradio's upload folder: visitors' uploads, and the only server files a request may name."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or (Path(tempfile.gettempdir()) / "gradio").resolve())


def new_folder(kind: str) -> Path:
    """A fresh folder of its own in the upload folder, for files one visitor downloads."""
    folder = upload_folder() / kind / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True, exist_ok=True)
    return folder
