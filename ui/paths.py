"""Which server files a request may name: only what this app's upload route stored, or its assets.

Whatever a browser or a script sends can name a path: a file dict without Gradio's `meta` skips
Gradio's "was this uploaded?" check, and a chat history item of type "component" makes Gradio copy
the file it names into its cache. So every value that reaches a handler is walked first, and one
path outside the allowed folders refuses the whole request with the same sentence, whether the
path exists or not: nothing can be learned about the server's files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ui.errors import InputError

ASSETS = Path(__file__).resolve().parent.parent / "assets"  # the examples: the app's own files

MAX_DEPTH = 64  # deeper than any value the page sends: a forged one is refused, not walked


class FileRefused(InputError):
    """A request named a file this app did not store (the same sentence for every path)."""

    def __init__(self) -> None:
        super().__init__("file_refused")


class Roots:
    """The folders whose files requests may name (resolved once, symlinks followed)."""

    def __init__(self, folders: Iterable[str | os.PathLike[str]]) -> None:
        self.folders = tuple(os.path.realpath(f) for f in folders)

    def allows(self, path: object) -> bool:
        """True for a file inside one of the folders (not a folder itself, not outside by `..`)."""
        if not isinstance(path, str) or not path or "\0" in path:
            return False
        real = os.path.realpath(path)
        return any(real.startswith(folder + os.sep) for folder in self.folders)

    def check(self, value: Any) -> None:
        """Raise FileRefused if `value` (any JSON-like shape) names a file outside the folders, or
        carries a chat item of type "component" (the page never sends one)."""
        for path in named_paths(value):
            if not self.allows(path):
                raise FileRefused()


def named_paths(value: Any) -> Iterator[object]:
    """Every path a value names: `"path"` keys of dicts and `.path` of file objects, at any depth."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FileRefused()
        if isinstance(item, dict):
            if item.get("type") == "component":
                raise FileRefused()
            if "path" in item:
                yield item["path"]
            stack.extend((v, depth + 1) for v in item.values() if not _plain(v))
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item if not _plain(v))
        elif hasattr(item, "path") and not isinstance(item, str):  # FileData and the like
            yield item.path


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None
