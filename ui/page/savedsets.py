"""Test sets saved from the Chat, on the Test page: listed under "Saved test sets" and, chosen,
put into the plan as if their images and a table of their questions had been dropped (the
table's columns: image, question, expected), so the plan, Run and the report work as for any
set. Who sees which: as for runs (ui/page/testgrid.py), a browser its own, a signed-in team all
of the team's."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import PurePosixPath
from typing import Any

import gradio as gr

from ui.i18n import say
from ui.page.browser_id import owner_of
from ui.page.served import new_folder
from ui.page.visitors import refuse, request_language
from ui.store.api import Store
from ui.testing.chatratings import SavedSet
from ui.testing.files import IMAGE_SUFFIXES


def visible_sets(store: Store, owner: str) -> list[SavedSet]:
    """The sets this viewer may open and add to, newest first."""
    if owner.startswith("user:"):  # with sign-in: the team's
        return [s for s in store.test_sets(None) if s.owner.startswith("user:")]
    return store.test_sets(owner)


def set_named(store: Store, owner: str, name: str) -> SavedSet:
    """The viewer's set of that name (a team's: anyone's in the team), made if it is new."""
    wanted = name.strip()
    for saved in visible_sets(store, owner):
        if saved.name == wanted:
            return saved
    return store.create_test_set(wanted, owner)


def set_choices(lang: str, sets: list[SavedSet]) -> list[tuple[str, int]]:
    return [(say(lang, "set_choice", {"name": s.name, "size": s.size}), s.id) for s in sets]


class SavedSets:
    """The Test page's "Saved test sets" list and what choosing one puts into the plan."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def listed(self, browser: str, request: gr.Request) -> Any:
        sets = visible_sets(self.store, owner_of(request, browser))
        return gr.Dropdown(choices=set_choices(request_language(request), sets), value=None,
                           visible=bool(sets))

    async def chosen(self, set_id: Any, browser: str, request: gr.Request) -> tuple[Any, Any, Any]:
        """The set's images and its table as the dropped files, the typed questions emptied (each
        would be asked of every image), and the set's name as the run's title."""
        lang = request_language(request)
        if set_id is None or set_id == "":
            return gr.skip(), gr.skip(), gr.skip()
        owner = owner_of(request, browser)
        mine = {s.id: s for s in visible_sets(self.store, owner)}
        saved = mine.get(set_id) if isinstance(set_id, int) and not isinstance(set_id, bool) else None
        if saved is None:
            raise refuse(say(lang, "set_gone"))
        paths = await asyncio.to_thread(self._files, saved)
        return paths, "", saved.name

    def _files(self, saved: SavedSet) -> list[str]:
        """The set written out in Gradio's upload folder (served to this visitor, deleted with the
        other uploads): one file per image, named as in the chat (made unique), and the table."""
        folder = new_folder("testsets")
        items = self.store.test_set_items(saved.id)
        names: dict[str, str] = {}  # digest → file name here
        taken: set[str] = set()
        paths: list[str] = []
        for item in items:
            if item.image in names:
                continue
            data = self.store.image(item.image)
            if data is None:
                continue  # gone from the store: its rows become the plan's "unknown image" lines
            name = _unique(_file_name(item.name, item.image), taken)
            names[item.image] = name
            (folder / name).write_bytes(data)
            paths.append(str(folder / name))
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["image", "question", "expected"])
        for item in items:
            writer.writerow([names.get(item.image, _file_name(item.name, item.image)), item.question,
                             item.expected])
        out = folder / f"{_safe(saved.name)}.csv"
        out.write_text(table.getvalue(), "utf-8")
        return [*paths, str(out)]


def _file_name(name: str, digest: str) -> str:
    name = PurePosixPath(name.replace("\\", "/")).name.replace("\0", "").strip()
    if not name or name.startswith("."):
        name = digest[:12]
    if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
        name += ".png"  # the file's bytes say what it is; the finder wants an image's suffix
    return name[-120:]


def _unique(name: str, taken: set[str]) -> str:
    stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem} ({n}){suffix}"
    taken.add(candidate.lower())
    return candidate


def _safe(title: str) -> str:
    kept = "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in title).strip()
    return kept[:60] or "test-set"
