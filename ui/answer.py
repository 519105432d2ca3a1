"""The one answer loop: a question (history + Choices) in, a growing answer out. No gradio.

`Answerer.run` serves Enter, Retry and the /ask API (and next the Compare panes and Test cells):
it builds nothing itself, it takes the messages `built` and the request `start`ed (ui/asking.py), folds the
endpoint's events into an Answer (ui/conversation.py), and yields a Step whenever the page should
see it. The pages only differ in how they show a Step: the chat renders `answer.view()`, /ask
the answer's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ui.asking import HISTORY_POLICIES, Asker, file_name
from ui.choices import Choices
from ui.conversation import Answer, last_image_path
from ui.endpoint import Finish, Retrying, Started
from ui.errors import FINISH_KEYS, ChatError, EndpointError
from ui.i18n import say
from ui.image_notes import boxes_message, seen_message
from ui.imaging.boxes import draw_boxes
from ui.imaging.payload import ImageError, prepare
from ui.messages import Built
from ui.pace import Pace, paced
from ui.records import AnswerRecord, now_iso, provenance_message
from ui.settings import Settings

# Importable from here too: ui/page/chat.py takes them with Answerer.
__all__ = ["HISTORY_POLICIES", "Answerer", "Step", "file_name"]

log = logging.getLogger("glmchat")


@dataclass(frozen=True)
class Step:
    """One moment of an answer: the Answer so far and the stats line to show with it.

    rendered: answer.history is already up to date (no view() needed); final: the last step;
    error: what ended the answer, if something did (it is also a notice in the history).
    """

    answer: Answer
    stats: str
    rendered: bool = False
    final: bool = False
    error: ChatError | None = None
    timed_out: bool = False

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.answer.history if self.rendered else self.answer.view()


class Answerer(Asker):
    """Asker (ui/asking.py) and the one answer loop: who is answering right now (Stop), what
    came back folded into an Answer, its record and stats. No conversation state."""

    def __init__(self, settings: Settings, upload_dir: Path) -> None:
        super().__init__(settings, upload_dir)
        # Stop buttons, by browser session: a signal to the running answer, not conversation
        # state. Gradio's own cancel could show "Error" over the chat when the server was busy.
        self._stops: dict[str, asyncio.Event] = {}

    async def run(self, history: list[dict[str, Any]], built: Built, choices: Choices, lang: str,
                  events: Started | ChatError, session: str | None = None, *,
                  boxes: bool = True) -> AsyncGenerator[Step, None]:
        """The one answer loop (Enter, Retry, /ask; Compare panes and Test cells next): events in,
        the growing Answer out, at the pace the page can take. Faults end as a notice in the
        answer's history (Step.error says which), never as an exception; the last step is final.
        Close it (contextlib.aclosing) before closing `events`: it is still reading them.
        """
        stop, deadline = asyncio.Event(), asyncio.Event()
        if session:
            self._stops[session] = stop

        def time_is_up() -> None:
            deadline.set()
            stop.set()

        timer = asyncio.get_running_loop().call_later(self.settings.max_answer_seconds, time_is_up)
        try:
            async with contextlib.aclosing(self._fold(history, built, choices, lang, events, stop,
                                                      deadline, boxes)) as steps:
                async for step in steps:
                    yield step
        finally:
            timer.cancel()
            if session and self._stops.get(session) is stop:
                del self._stops[session]

    def stop_session(self, session: str | None) -> None:
        """End this session's answer; what arrived so far stays."""
        if (signal := self._stops.get(session or "")) is not None:
            signal.set()

    async def _fold(self, history: list[dict[str, Any]], built: Built, choices: Choices, lang: str,
                    events: Started | ChatError, stop: asyncio.Event, deadline: asyncio.Event,
                    boxes: bool) -> AsyncGenerator[Step, None]:
        model = choices.model
        asked_at = now_iso()
        answer = Answer.start(history)
        # Which model answers, with which choices: above the answer as it streams, its figures
        # filled in when it ends (only when a request went out).
        noted = len(answer.history) if isinstance(events, Started) else None
        # What the model saw: shown once the endpoint answers at all (an error before that, such
        # as a refused key or an endpoint that is down, means no model saw anything).
        seen = seen_message(built, lang) if built.image_count or built.omitted else None
        if noted is not None:
            sent = self._sent(choices)
            answer.history.append(provenance_message(AnswerRecord(sent.model, sent, at=asked_at),
                                                     self.defaults, lang))
        stats = ""
        error: ChatError | None = None
        try:
            if isinstance(events, ChatError):
                raise events
            pace = Pace()
            async with contextlib.aclosing(paced(events, pace, stop)) as arriving:
                async for event in arriving:
                    if event is not None:
                        if seen is not None and noted is not None and not isinstance(event, Retrying):
                            answer.history.insert(noted, seen)  # above the model's note
                            noted, seen = noted + 1, None
                        answer.apply(event)
                    if answer.status:
                        yield Step(answer, say(lang, "retrying", _retry_params(answer.status)))
                    elif pace.due() or isinstance(event, Finish):
                        pace.sending()
                        yield Step(answer, "")
                        pace.sent()
            answer.close()
            if deadline.is_set():
                answer.notice(say(lang, "answer_time_limit",
                                  {"seconds": f"{self.settings.max_answer_seconds:g}"}))
            elif stop.is_set():
                answer.notice(say(lang, "stopped"))
            if answer.boxes and boxes:
                yield Step(answer, "", rendered=True)
                await self._draw_boxes(answer, built, lang)
            if answer.skipped:
                answer.notice(say(lang, "content_skipped", {"count": answer.skipped}))
            if answer.finish in FINISH_KEYS:
                answer.notice(say(lang, FINISH_KEYS[answer.finish]))
            elif not answer.text and not answer.reasoning:
                answer.notice(say(lang, "no_choices"))
            stats = self._stats(answer, lang)
        except ChatError as e:
            error = e
            self._notice(answer, e, lang, model)
        except Exception:  # a bug of ours: keep the conversation, log the details
            log.exception("unexpected error while answering")
            error = ChatError("unknown")
            answer.notice(say(lang, "unknown"))
        if noted is not None:
            answer.history[noted] = provenance_message(
                self._record(answer, choices, asked_at, error.key if error else None),
                self.defaults, lang)
        yield Step(answer, stats, rendered=True, final=True, error=error, timed_out=deadline.is_set())


    def _record(self, answer: Answer, choices: Choices, asked_at: str,
                error: str | None) -> AnswerRecord:
        sent = self._sent(choices)
        ttft, _, total = answer.timings()
        usage = answer.usage
        return AnswerRecord(
            model=sent.model, choices=sent,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            first_token_s=round(ttft, 2) if answer.first_token is not None else None,
            total_s=round(total, 2), finish=answer.finish, error=error, at=asked_at)

    async def _draw_boxes(self, answer: Answer, built: Built, lang: str) -> None:
        """Show the answer's grounding boxes on the image they refer to."""
        path = built.images[-1][0] if built.images else last_image_path(answer.history)
        if path is None:
            return
        try:
            image = built.images[-1][1] if built.images else await asyncio.to_thread(
                prepare, path, self.settings.image_quality)
            drawn = await asyncio.to_thread(draw_boxes, image.data, answer.boxes,
                                           self.upload_dir / "boxes")
        except (ImageError, OSError):
            log.warning("could not draw boxes on an image")
            return
        answer.history.append(boxes_message(str(drawn), len(answer.boxes), lang))


    def _notice(self, answer: Answer, error: ChatError | ImageError, lang: str, model: str) -> None:
        sentence = self.sentence(error, lang, model)
        if answer.interrupted:
            sentence = f"{say(lang, 'interrupted')}: {sentence}"
        detail = error.params.get("detail") if isinstance(error, EndpointError) else None
        answer.notice(sentence, say(lang, "endpoint_said", {"detail": detail}) if detail else "")

    def _stats(self, answer: Answer, lang: str) -> str:
        ttft, tps, total = answer.timings()
        if answer.usage:
            return say(lang, "stats" if tps is not None else "stats_no_rate",
                       {"prompt": answer.usage.prompt_tokens, "ttft": ttft,
                        "completion": answer.usage.completion_tokens, "tps": tps or 0,
                        "total": total})
        return say(lang, "stats_no_usage", {"ttft": ttft, "total": total})



def _retry_params(status: str) -> dict[str, str]:
    attempt, _, total = status.partition("/")
    return {"attempt": attempt, "total": total}

