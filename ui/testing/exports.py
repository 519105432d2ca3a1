"""A run's results file, written from the store: CSV, JSONL or the HTML report, by the file's
suffix. Shared by the Test page's downloads and `glm-vision-chat batch --out`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from ui.store.api import Store
from ui.testing import report, report_html
from ui.testing.cells import Run
from ui.testing.stats import summarize

SUFFIXES = (".csv", ".jsonl", ".html")


class _Thumbnails(Mapping[str, bytes]):
    """The run's thumbnails, read from the store one at a time as the report embeds them."""

    def __init__(self, store: Store, digests: list[str]) -> None:
        self.store, self.digests = store, digests

    def __getitem__(self, digest: str) -> bytes:
        data = self.store.thumbnail(digest) if digest in self.digests else None
        if not data:
            raise KeyError(digest)
        return data

    def __iter__(self) -> Iterator[str]:
        return iter(self.digests)

    def __len__(self) -> int:
        return len(self.digests)


def export(path: Path, run: Run, store: Store, lang: str) -> None:
    """Write the results of `run` to `path` (.csv, .jsonl or .html); a file half written is never
    left under that name."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"results go to .csv, .jsonl or .html, not {suffix!r}")
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as out:
        if suffix == ".csv":
            report.write_csv(out, run, store.each_cell(run.id), lang)
        elif suffix == ".jsonl":
            report.write_jsonl(out, run, store.each_cell(run.id), lang)
        else:
            summaries = summarize(run, store.each_cell(run.id))
            digests = list(dict.fromkeys(item.image for item in run.items))
            report_html.write_html(out, run, store.each_cell(run.id), _Thumbnails(store, digests),
                                   lang, summaries)
    os.replace(partial, path)
