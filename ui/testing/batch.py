"""`glm-vision-chat batch`: the Test page's run from the command line, for a developer to schedule.

Every image found in the paths × every question × every model, with a progress bar on a terminal,
into the same store as the page (its runs appear there), then a results file. Exit status: 0 when
the run ran (failed cells are rows with their reason), 1 when it was stopped, 2 when it could not
run at all (nothing to ask, no key, a bad setting, the store out of reach, or --resume of a run
that the app or another batch command is asking right now).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from dotenv import find_dotenv, load_dotenv

from ui.answer import Answerer
from ui.choices import Choices
from ui.errors import ChatError
from ui.i18n import say
from ui.settings import ConfigError, Settings
from ui.store.api import Store
from ui.testing import testset
from ui.testing.cells import Run, Variant
from ui.testing.exports import SUFFIXES, export
from ui.testing.lease import HeldElsewhere
from ui.testing.manager import image_files, new_run
from ui.testing.runner import Progress, Runner

OWNER = "cli"  # its runs appear on every viewer's Test page (ui/page/testrun.py CLI)


class Refused(Exception):
    """The run cannot start: the sentence says why."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="glm-vision-chat batch",
        description="Ask every image in PATH (files, folders, .zip) every question, of every model.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="images, folders or .zip archives")
    p.add_argument("--question", action="append", default=[], metavar="TEXT",
                   help="a question asked of every image (repeat for more)")
    p.add_argument("--questions", metavar="FILE", help=".csv or .xlsx with columns image, question, "
                   "expected (optional)")
    p.add_argument("--model", action="append", default=[], metavar="NAME", required=True,
                   help="a model to ask (repeat for up to four)")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--out", required=True, metavar="FILE", help="results: .csv, .jsonl or .html")
    p.add_argument("--resume", action="store_true",
                   help="continue the last unfinished run with the same inputs")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: ask failed cells again")
    p.add_argument("--title", default="", help="the run's name on the Test page")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the results file")
    return p


def main(argv: Sequence[str]) -> int:
    load_dotenv(find_dotenv(usecwd=True))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(list(argv))
    try:
        return asyncio.run(_batch(args, sys.stderr))
    except Refused as refused:
        print(f"glm-vision-chat batch: {refused}", file=sys.stderr)
        return 2


async def _batch(args: argparse.Namespace, err: TextIO) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in SUFFIXES:
        raise Refused(say(args.lang, "batch_out_suffix", {"name": out.name}))
    if len(args.model) > 4:
        raise Refused(say(args.lang, "batch_too_many_models", {"count": len(args.model)}))
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        raise Refused(str(error)) from None
    answerer = Answerer(settings, settings.data_dir / "uploads")
    variants = [Variant(_choices(settings, answerer, model, args)) for model in args.model]
    found = testset.build(args.paths, "\n".join(args.question), args.questions)
    for sentence in found.sentences(args.lang):
        print(sentence, file=err)
    if not found.items:
        raise Refused(say(args.lang, "batch_nothing_to_ask"))
    if not settings.has_key:
        raise Refused(say(args.lang, "no_key"))
    store = _store(settings)
    try:
        run = await asyncio.to_thread(_run_for, store, found, variants, args)
        runner = Runner(answerer, store, image_files(store, settings.data_dir / "images"))
        stop = asyncio.Event()
        try:
            with _stop_on_signals(stop):
                last = await _show(runner.run(run, retry_failed=args.retry_failed, stop=stop), err)
        except HeldElsewhere:  # --resume of a run the app or another batch is asking: not twice
            raise Refused(say(args.lang, "batch_held_elsewhere", {"id": run.id})) from None
        await asyncio.to_thread(_write, store, run.id, out, args.lang)
        print(say(args.lang, "batch_done", {"done": last.done, "failed": last.failed,
                                            "file": str(out)}), file=err)
        return 1 if last.stopped else 0
    finally:
        store.close()


def _choices(settings: Settings, answerer: Answerer, model: str,
             args: argparse.Namespace) -> Choices:
    try:
        answerer.check_request("", model, "", "")
    except ChatError as error:
        raise Refused(say(args.lang, error.key, error.params)) from None
    defaults = Choices(model=model)
    return defaults.with_(
        temperature=defaults.temperature if args.temperature is None else args.temperature,
        max_tokens=defaults.max_tokens if args.max_tokens is None else args.max_tokens)


def _store(settings: Settings) -> Store:
    from ui.store import open_store

    try:
        return open_store(settings.data_dir, settings.database_url)
    except ConfigError as error:
        raise Refused(str(error)) from None


def _run_for(store: Store, found: testset.TestSet, variants: list[Variant],
             args: argparse.Namespace) -> Run:
    """The unfinished run with these inputs (--resume), else a new one with its images stored."""
    if args.resume:
        from ui.testing.cells import fingerprint

        run = store.find_unfinished(fingerprint(found.items, variants), OWNER)
        if run is not None:
            return run
    return new_run(store, found, variants, OWNER, args.title or time.strftime("batch %Y-%m-%d %H:%M"))


async def _show(progress: object, err: TextIO) -> Progress:
    """Draw the progress bar (a terminal) or a line every 10 % (a log); the last Progress."""
    last: Progress | None = None
    tty = err.isatty()
    shown_at = -1
    async for p in progress:  # type: ignore[attr-defined]
        last = p
        if tty:
            err.write("\r" + bar(p))
            err.flush()
        elif p.total and (step := (p.done + p.failed) * 10 // p.total) != shown_at:
            shown_at = step
            err.write(bar(p) + "\n")
    if tty:
        err.write("\n")
    assert last is not None
    return last


def bar(p: Progress, width: int = 30) -> str:
    """[#########.....] 12/30 · 1 failed · ETA 0:40"""
    ended = p.done + p.failed
    filled = width * ended // p.total if p.total else width
    eta = f" · ETA {int(p.eta_s) // 60}:{int(p.eta_s) % 60:02d}" if p.eta_s and not p.finished else ""
    failed = f" · {p.failed} failed" if p.failed else ""
    return f"[{'#' * filled}{'.' * (width - filled)}] {ended}/{p.total}{failed}{eta} "


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event):  # type: ignore[no-untyped-def]
    """Ctrl-C (or SIGTERM) stops the run cleanly: what ended is kept, --resume continues."""
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def _write(store: Store, run_id: int, out: Path, lang: str) -> None:
    run = store.run(run_id)
    assert run is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    export(out, run, store, lang)
