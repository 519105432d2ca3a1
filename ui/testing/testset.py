"""A test set without code: the images a tester dropped (files, folders, .zip archives) and the
questions they typed or loaded from a table, made into Items (an image by the SHA-256 of its bytes
× a question) and the sentences about what was left out and why.

Pure: no page, no store. Images are found by ui/testing/files.py; their bytes are read when asked
for (`TestSet.images[digest]`), never all at once, so a folder of thousands of photos costs one
image of memory at a time. A table (.csv/.xlsx) is taken only when dropped or
named directly, never from inside a folder (a results file written there must not become the
questions of the next run).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ui.testing.cells import Item
from ui.testing.files import Found, Limits, Source, read, take
from ui.testing.tables import OLD_SPREADSHEETS, TABLE_SUFFIXES, Problem, Row, lines, read_table

DROPPED_TABLES = tuple(s for s in TABLE_SUFFIXES if s != ".txt") + OLD_SPREADSHEETS
__all__ = ["Limits", "TestSet", "build"]


class ImageBytes(Mapping[str, bytes]):
    """The bytes of each image of the set by its SHA-256, read from its file when asked for. The
    last .zip read from stays open until the next one (or close()): reading a whole archive in
    order opens it once."""

    def __init__(self, sources: Mapping[str, Source], limit: int) -> None:
        self._sources, self._limit = dict(sources), limit
        self._open: tuple[Path, zipfile.ZipFile] | None = None

    def __getitem__(self, digest: str) -> bytes:
        source = self._sources[digest]
        archive = None
        if source.member is not None:
            if self._open is None or self._open[0] != source.path:
                self.close()
                self._open = (source.path, zipfile.ZipFile(source.path))
            archive = self._open[1]
        data = read(source, self._limit, archive)
        if hashlib.sha256(data).hexdigest() != digest:
            raise OSError(f"{source.path.name} changed after it was read")
        return data

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def close(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None


@dataclass
class TestSet:
    items: list[Item]
    problems: list[Problem]
    images: ImageBytes  # only the images some item asks about

    def sentences(self, lang: str) -> list[str]:
        return [p.text(lang) for p in self.problems]

def build(paths: Iterable[Path | str], questions: str = "", table: Path | str | None = None,
          limits: Limits | None = None) -> TestSet:
    """The set from dropped paths (images, folders, .zip; a .csv/.xlsx among them is the table),
    the typed questions (one per line) and an optional table of image, question, expected."""
    limits = limits or Limits()
    found = Found(limits)
    tables = [Path(table)] if table is not None else []
    for path in map(Path, paths):
        if path.suffix.lower() in DROPPED_TABLES:
            tables.append(path)
        else:
            take(path, found)
    problems = found.problems
    rows: list[Row] = []
    for extra in tables[1:]:
        problems.append(Problem("testset_second_table", {"name": extra.name}))
    if tables:
        try:
            read = read_table(tables[0].name, tables[0].read_bytes())
        except OSError:
            problems.append(Problem("testset_table_unreadable", {"name": tables[0].name}))
        else:
            rows, problems = read.rows, problems + read.problems
    items = _items(found, rows, questions, limits, problems)
    if not found.names:
        problems.append(Problem("testset_no_images"))
    elif not items and not tables and not questions.strip():
        problems.append(Problem("testset_no_questions"))
    used = {item.image for item in items}
    return TestSet(items, problems, ImageBytes({d: s for d, s in found.sources.items() if d in used},
                                               limits.image_bytes))


def _items(found: Found, rows: list[Row], questions: str, limits: Limits,
           problems: list[Problem]) -> list[Item]:
    items: dict[tuple[str, str, str], Item] = {}
    first_row: dict[tuple[str, str, str], int] = {}
    images = list(found.names.items())
    for row in rows:
        if not row.question:
            problems.append(Problem("testset_row_empty_question", {"row": row.number}))
            continue
        if len(row.question) > limits.question_chars:
            problems.append(Problem("testset_row_too_long",
                                    {"row": row.number, "limit": limits.question_chars}))
            continue
        if row.image is None:
            targets = images
        elif not row.image:
            problems.append(Problem("testset_row_no_image", {"row": row.number}))
            continue
        else:
            matches = _match(row.image, found.files)
            if len(matches) != 1:
                problems.append(Problem(
                    "testset_row_unknown_image" if not matches else "testset_row_ambiguous_image",
                    {"row": row.number, "name": row.image, "count": len(matches),
                     "names": ", ".join(sorted(matches.values()))}))
                continue
            targets = list(matches.items())
        repeated = 0
        for digest, name in targets:
            key = (digest, row.question, row.expected)
            if key in items:
                repeated = first_row.get(key, 0)
                continue
            items[key], first_row[key] = Item(digest, name, row.question, row.expected), row.number
        if repeated and row.image is not None:
            problems.append(Problem("testset_row_repeat", {"row": row.number, "first": repeated}))
    typed: dict[str, int] = {}
    for number, question in lines(questions):
        if len(question) > limits.question_chars:
            problems.append(Problem("testset_line_too_long",
                                    {"line": number, "limit": limits.question_chars}))
        else:
            typed.setdefault(question, number)
    for digest, name in images:
        for question in typed:
            items.setdefault((digest, question, ""), Item(digest, name, question))
    if rows and not typed and any(r.image for r in rows):
        unused = len({d for d, _ in images} - {i.image for i in items.values()})
        if unused:
            problems.append(Problem("testset_unused_images", {"count": unused}))
    return list(items.values())


def _match(reference: str, files: list[tuple[str, str]]) -> dict[str, str]:
    """digest → file name of the dropped images a table's name means: the same path, else the
    same path ignoring case, else the same file name ignoring case and folders."""
    wanted = reference.replace("\\", "/").strip().removeprefix("./")
    tests = (lambda n: n == wanted, lambda n: n.lower() == wanted.lower(),
             lambda n: PurePosixPath(n).name.lower() == PurePosixPath(wanted).name.lower())
    for test in tests:
        matches: dict[str, str] = {}
        for name, digest in files:
            if test(name):
                matches.setdefault(digest, name)
        if matches:
            return matches
    return {}
