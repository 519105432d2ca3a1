"""The Compare page's handlers: one question to every pane at once (each pane its own answer loop
and its own history), Stop for all, Retry per pane, and the vote. The round (ui/rounds.py) lives
in a gr.State, on the server: in a blind round the page only ever gets what `Round.shown` lets
through, so the models' names reach the browser with the vote and not before."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import gradio as gr

from ui.answer import file_name
from ui.conversation import answer_text, for_retry, last_user_index, user_message
from ui.endpoint import Started
from ui.errors import ChatError
from ui.i18n import say
from ui.messages import parts_of
from ui.page.browser_id import owner_of
from ui.page.chat import Chat
from ui.page.testrun import shared_store, store_problem
from ui.page.visitors import attached, refuse, request_language, session_of, visitor_of
from ui.records import now_iso
from ui.rounds import LETTERS, MOST_PANES, VERDICTS, Round, Setup, pane_count
from ui.settings import Settings
from ui.testing.cells import REASONS
from ui.together import together

NOTE_LIMIT = 2_000
# The vote buttons' labels, one per verdict: two panes read "A is better"... "Both are bad",
# more read "A is best"... "All are bad".
VOTE_KEYS = {True: ("compare_vote_a2", "compare_vote_b2", "compare_vote_c", "compare_vote_d",
                    "compare_vote_tie", "compare_vote_bad2"),
             False: ("compare_vote_a", "compare_vote_b", "compare_vote_c", "compare_vote_d",
                     "compare_vote_tie", "compare_vote_bad")}


# What a blind round's model cannot take (image links only, fewer images): a new round draws a pair
# that can (Compare.new_round).
REDRAW = frozenset({"base64_not_accepted", "too_many_images"})


class Compare:
    """Handlers of the Compare page; the answering is the chat's (one loop for every page)."""

    def __init__(self, settings: Settings, chat: Chat, i18n: gr.I18n) -> None:
        self.settings, self.chat, self.i18n = settings, chat, i18n

    # ---- rounds ------------------------------------------------------------------------------

    def new_round(self, setup: Setup, lang: str, files: int = 0) -> Round:
        """A blind round's two models are drawn from those that can take the first question's
        `files` uploaded images."""
        if setup.blind:
            models = list(dict.fromkeys(self.settings.models))
            pool = [m for m in models if self.chat.takes(m, files)]
            round_ = Round.blind_pair(pool)
            if round_ is None:
                raise refuse(say(lang, "compare_blind_needs_two") if len(models) < 2 else
                             say(lang, "compare_blind_none_take", {"count": files}))
            return round_
        return Round(models=list(setup.models))

    def start_over(self, mode: str, panes: Any, *, keep_pickers: bool = False) -> tuple[Any, ...]:
        """A new round (mode or pane count changed, or "New round"): empty panes, a blind round's
        names hidden again, the vote row hidden. The pickers are filled only for named panes."""
        named, count = mode != "blind", pane_count(mode, panes)
        models = list(self.settings.models)
        pickers = [gr.skip() if keep_pickers else
                   gr.Dropdown(choices=models if named else [],
                               value=models[i % len(models)] if named and models else None,
                               visible=named) for i in range(MOST_PANES)]
        temps = [gr.skip() if keep_pickers else gr.Slider(visible=named) for _ in range(MOST_PANES)]
        return (None, *([] for _ in range(MOST_PANES)), *("" for _ in range(MOST_PANES)),
                *_headers(None, count), *pickers, *temps,
                *(gr.Column(visible=i < count) for i in range(MOST_PANES)),
                gr.Radio(visible=named), gr.Group(visible=False), "", *self._vote_buttons(count))

    def _setup(self, mode: Any, panes: Any, values: Sequence[Any]) -> Setup:
        """The controls' values as a Setup; a value no control could hold (a forged call: NaN,
        a string for a number, an unknown quality) is the server's default instead."""
        s = self.settings

        def ok(name: str, value: Any, default: Any) -> Any:
            return value if self.chat.checked_setting(name, value) is value else default

        models, temps = values[:MOST_PANES], values[MOST_PANES:2 * MOST_PANES]
        max_tokens, system_prompt, quality, thinking = values[2 * MOST_PANES:]
        return Setup.of("blind" if mode == "blind" else "named", panes,
                        [m if isinstance(m, str) else "" for m in models],
                        [ok("temperature", t, s.temperature) for t in temps],
                        ok("max_tokens", max_tokens, s.max_tokens),
                        ok("system_prompt", system_prompt, s.system_prompt),
                        ok("quality", quality, s.image_quality), ok("thinking", thinking, True))

    def _vote_buttons(self, count: int) -> list[Any]:
        return [gr.Button(value=self.i18n(key), visible=i < count or i >= MOST_PANES)
                for i, key in enumerate(VOTE_KEYS[count == 2])]

    # ---- asking ------------------------------------------------------------------------------

    async def ask(self, value: dict[str, Any] | None, round_: Round | None, mode: str, panes: Any,
                  request: gr.Request, *controls: Any) -> AsyncIterator[tuple[Any, ...]]:
        """Enter pressed: the question goes to every pane at once; they stream side by side.
        controls: each pane's model, each pane's temperature, the shared choices, the API key."""
        *values, api_key = controls
        lang = request_language(request)
        setup = self._setup(mode, panes, values)
        value = value or {}
        files, text = attached(value), (value.get("text") or "").strip()
        if not text and not files:
            raise refuse(say(lang, "empty"))
        self.chat.check_sizes(files, lang)  # as the chat's Enter: one sentence per file too big
        if round_ is None or len(round_.models) != setup.panes or round_.blind != setup.blind:
            round_ = self.new_round(setup, lang, len(files))
        if not round_.blind:
            round_.models = list(setup.models)
        round_.choices = setup.choices(round_.models, self.settings.temperature,
                                       self.settings.top_p)
        for model in dict.fromkeys(round_.models):
            try:
                self.chat.check_request(text, model, setup.system_prompt, api_key)
            except ChatError as e:
                raise refuse(round_.hide(self.chat.sentence(e, lang, model), lang)) from None
        asked = [[*h, user_message(text, files)] for h in round_.histories]
        async for update in self._answer(round_, list(range(len(round_.models))), asked, api_key,
                                         request, lang, clear_input=True):
            yield update

    async def retry(self, pane: int, round_: Round | None, api_key: str,
                    request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """This pane's last question asked again; its earlier answer stays, folded."""
        lang = request_language(request)
        if round_ is None or pane >= len(round_.models) or last_user_index(round_.histories[pane]) < 0:
            raise refuse(say(lang, "compare_nothing_to_retry"))
        history = for_retry(round_.histories[pane], lang)
        async for update in self._answer(round_, [pane], {pane: history}, api_key, request, lang,
                                         clear_input=False):
            yield update

    def retry_pane(self, pane: int) -> Callable[..., AsyncIterator[tuple[Any, ...]]]:
        """The Retry button of one pane (Gradio reads the signature: gr.Request must be in it)."""
        async def retry(round_: Round | None, api_key: str, request: gr.Request):
            async for update in self.retry(pane, round_, api_key, request):
                yield update
        return retry

    async def _answer(self, round_: Round, panes: list[int],
                      asked: Sequence[list[dict[str, Any]]] | dict[int, list[dict[str, Any]]],
                      api_key: str, request: gr.Request, lang: str,
                      clear_input: bool) -> AsyncIterator[tuple[Any, ...]]:
        """Every pane's request sent at once, then their steps as they come, one page update per
        step (only the pane that moved is sent again)."""
        histories = {i: asked[i] for i in panes}
        with contextlib.ExitStack() as held:
            try:
                for _ in panes:
                    held.enter_context(self.chat.slot(visitor_of(request)))
                built = await asyncio.gather(*(self.chat.prepare_messages(histories[i],
                                                                          round_.choices[i])
                                               for i in panes))
            except ChatError as e:
                said = self.chat.sentence(e, lang, round_.models[panes[0]])
                if round_.blind and e.key in REDRAW:  # "pick another model": not here, but a new pair
                    said += " " + say(lang, "compare_blind_redraw")
                raise refuse(round_.hide(said, lang)) from None
            started = {i: self.chat.start(b, round_.choices[i], api_key)
                       for i, b in zip(panes, built, strict=True)}
            for i in panes:
                round_.histories[i], round_.stats[i] = histories[i], ""
            try:  # every pane as it is now: later updates send only the panes that moved
                yield self._update(round_, *self._panes(round_, lang), clear_input=clear_input,
                                   busy=True)
                session = session_of(request) or ""
                runs = {i: self.chat.run(histories[i], b, round_.choices[i], lang, started[i],
                                         f"{session}:{i}")
                        for i, b in zip(panes, built, strict=True)}
                async for moved in together(runs):
                    for pane, step in moved.items():
                        round_.stats[pane] = step.stats
                        if step.final:
                            round_.histories[pane] = step.history
                    yield self._update(
                        round_, {i: round_.shown(i, step.history, lang) for i, step in moved.items()},
                        {i: round_.hide(step.stats, lang) for i, step in moved.items()}, busy=True,
                        locked=clear_input)
            finally:
                for s in started.values():
                    if isinstance(s, Started):
                        await s.aclose()
        yield self._update(round_, {}, {}, busy=False)

    @staticmethod
    def _panes(round_: Round, lang: str) -> tuple[dict[int, Any], dict[int, str]]:
        """Every pane's chat and stats line as they are now; a pane the round lacks is empty."""
        count = len(round_.models)
        return ({i: round_.shown(i, lang=lang) if i < count else [] for i in range(MOST_PANES)},
                {i: round_.hide(round_.stats[i], lang) if i < count else ""
                 for i in range(MOST_PANES)})

    def _update(self, round_: Round, shown: dict[int, Any], stats: dict[int, str], *,
                clear_input: bool = False, locked: bool = False, busy: bool) -> tuple[Any, ...]:
        """The ask/retry outputs: the chats, stats, the input, the vote row, the result, the round.
        An output left out is gr.skip(): processed_here sends the value it last gave it again.
        locked: the input, emptied and locked by the first update, stays so (None, as the chat
        does: a gr.skip() there would rebuild the input's config at every update)."""
        if busy:
            box: Any = gr.MultimodalTextbox(value=None, interactive=False, submit_btn=False,
                                            stop_btn=True) if clear_input else None if locked \
                else gr.skip()
            vote: Any = gr.skip()
        else:
            box = gr.MultimodalTextbox(interactive=True, submit_btn=True, stop_btn=False)
            vote = gr.Group(visible=round_.can_vote())
        result = "" if clear_input else gr.skip()
        return (*(shown.get(i, gr.skip()) for i in range(MOST_PANES)),
                *(stats.get(i, gr.skip()) for i in range(MOST_PANES)), box, vote, result, round_)

    def stop(self, request: gr.Request) -> None:
        """Stop pressed: every pane's answer ends; what arrived so far stays."""
        session = session_of(request) or ""
        for i in range(MOST_PANES):
            self.chat.stop_session(f"{session}:{i}")

    # ---- the vote ----------------------------------------------------------------------------

    def vote_for(self, verdict: str) -> Callable[..., Awaitable[tuple[Any, ...]]]:
        """The button of one verdict."""
        async def vote(round_: Round | None, reasons: list[str] | None, note: str, browser: str,
                       request: gr.Request) -> tuple[Any, ...]:
            return await self.vote(verdict, round_, reasons, note, browser, request)
        return vote

    async def vote(self, verdict: str, round_: Round | None, reasons: list[str] | None, note: str,
                   browser: str, request: gr.Request) -> tuple[Any, ...]:
        """A verdict on the last answers: kept as votes, and a blind round's names revealed."""
        lang = request_language(request)
        if round_ is None or not round_.can_vote() or verdict not in VERDICTS:
            raise refuse(say(lang, "compare_nothing_to_vote"))
        if VERDICTS.index(verdict) < 4 and VERDICTS.index(verdict) >= len(round_.models):
            raise refuse(say(lang, "compare_nothing_to_vote"))
        history = round_.histories[0]
        texts: list[str] = []
        files: list[str] = []
        for kind, value in parts_of(history[last_user_index(history)].get("content")):
            (texts if kind == "text" else files).append(value)
        images = await asyncio.to_thread(_digests, files)
        user = getattr(request, "username", None)
        votes = round_.votes(verdict, question="\n".join(texts), images=images,
                             answers=[answer_text(h) for h in round_.histories],
                             reasons=[r for r in (reasons or []) if r in REASONS],
                             note=str(note or "")[:NOTE_LIMIT], owner=owner_of(request, browser),
                             who=user or "", at=now_iso())
        store = shared_store(self.settings)
        if not votes:
            said = say(lang, "compare_same_pane")
        elif store is None:
            said = say(lang, "compare_vote_not_kept", {"problem": store_problem(self.settings)})
        else:
            await asyncio.to_thread(lambda: [store.add_vote(v) for v in votes])
            said = say(lang, "compare_vote_kept")
        round_.voted = round_.questions()
        was_hidden = round_.hidden
        round_.revealed = True
        if was_hidden:
            said += " " + say(lang, "compare_revealed", {"models": ", ".join(
                f"{LETTERS[i]} = {m}" for i, m in enumerate(round_.models))})
        count = len(round_.models)
        return (*(round_.shown(i, lang=lang) if i < count else gr.skip() for i in range(MOST_PANES)),
                *_headers(round_, count),
                gr.Group(visible=False), [], "", f"✅ {said}", round_)


def _headers(round_: Round | None, count: int) -> list[str]:
    """Each pane's heading: its letter, and a blind round's model once the vote revealed it."""
    return [("" if i >= count else f"**{LETTERS[i]}** · {round_.models[i]}"
             if round_ is not None and round_.blind and round_.revealed else f"**{LETTERS[i]}**")
            for i in range(MOST_PANES)]


def _digests(files: Sequence[str]) -> list[tuple[str, str]]:
    """(file name, SHA-256) of the question's images, as votes keep them."""
    out = []
    for path in files:
        try:
            with open(path, "rb") as f:
                out.append((file_name(path), hashlib.file_digest(f, "sha256").hexdigest()))
        except OSError:
            out.append((file_name(path), ""))
    return out
