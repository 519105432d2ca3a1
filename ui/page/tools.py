"""The conversation's tools, in a row right under the chat: download it as Markdown or as JSON in
one click, import a JSON export, copy the last request as code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ui.page.chat import Chat
from ui.page.edge import checked
from ui.page.scripts import DOWNLOAD_JS
from ui.paths import Roots


@dataclass
class Tools:
    """The row's buttons, and the outputs they fill (made by build_outputs, below the row)."""

    markdown: gr.Button
    json: gr.Button
    importer: gr.UploadButton
    code: gr.Button
    download: gr.File = field(init=False)  # the file just written, handed to the browser to save
    python_code: gr.Code = field(init=False)
    curl_code: gr.Code = field(init=False)

    @classmethod
    def build(cls, i18n: gr.I18n) -> Tools:
        """The buttons, each as wide as its words (class "tool", scripts.CSS), in the current row."""
        small: dict[str, Any] = {"size": "sm", "scale": 0, "min_width": 0, "elem_classes": "tool"}
        markdown = gr.Button(i18n("download_markdown"), elem_id="export-markdown", **small)
        json = gr.Button(i18n("download_json"), elem_id="export-json", **small)
        importer = gr.UploadButton(i18n("import_json"),  # type: ignore[arg-type]
                                   file_types=[".json"], elem_id="import", **small)
        code = gr.Button(i18n("copy_code"), elem_id="copy-code", **small)
        return cls(markdown, json, importer, code)

    def build_outputs(self) -> None:
        """The download (never shown) and the code boxes, shown when asked for."""
        self.download = gr.File(visible=False, interactive=False, elem_id="download")
        self.python_code = gr.Code(language="python", label="Python (openai SDK)", visible=False,
                                   elem_id="python-code")
        self.curl_code = gr.Code(language="shell", label="curl", visible=False, elem_id="curl-code")

    def wire(self, chat: Chat, chatbot: gr.Chatbot, remembered: Sequence[gr.components.Component],
             roots: Roots, quiet: dict[str, Any]) -> Any:
        """Each download is written on the click and saved by the browser as soon as it is there.
        The import's event is returned (the conversation is kept in the browser after it)."""
        save: dict[str, Any] = {"js": DOWNLOAD_JS, "queue": False, **quiet}
        self.markdown.click(checked(chat.export_markdown, [chatbot], roots), chatbot,
                            self.download, preprocess=False, **quiet,
                            ).success(None, self.download, None, **save)
        self.json.click(checked(chat.export_json, [chatbot], roots), [chatbot, *remembered],
                        self.download, preprocess=False, **quiet,
                        ).success(None, self.download, None, **save)
        imported = self.importer.upload(checked(chat.import_, [self.importer], roots), self.importer,
                                        [chatbot, *remembered], preprocess=False, **quiet)
        self.code.click(checked(chat.as_code, [chatbot], roots), [chatbot, *remembered],
                        [self.python_code, self.curl_code], preprocess=False, **quiet)
        return imported
