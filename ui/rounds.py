"""A round of the Compare page: the panes' models and histories, which names are still hidden,
and the votes a verdict turns into. Plain data, no gradio.

Each pane keeps its own history, so no model ever sees another pane's answers. In a blind round
the server picked the models; until the vote every text the page gets passes through `shown`,
which puts "Model A" where a model's name would be (the provenance note, sentences that name
the model, an earlier answer's title) and drops the record the note carries.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ui.choices import Choices
from ui.i18n import say
from ui.records import PROVENANCE_ICON, record_of
from ui.testing.votes import Vote

LETTERS = "ABCD"
MOST_PANES = 4
VERDICTS = ("a", "b", "c", "d", "tie", "bad")  # a pane is best (better), all equal, all bad

History = list[dict[str, Any]]


@dataclass
class Round:
    """What the Compare page holds for one browser tab (in a gr.State: it stays on the server)."""

    models: list[str]
    blind: bool = False
    revealed: bool = False
    histories: list[History] = field(default_factory=list)
    choices: list[Choices] = field(default_factory=list)  # as each pane was last asked
    voted: int = 0  # questions asked when the last vote was given (one vote per question)
    stats: list[str] = field(default_factory=list)  # each pane's stats line, names not hidden

    def __post_init__(self) -> None:
        self.histories = self.histories or [[] for _ in self.models]
        self.stats = self.stats or ["" for _ in self.models]

    @classmethod
    def blind_pair(cls, models: Sequence[str], rng: random.Random | None = None) -> Round | None:
        """Two different models picked for the person, or None with fewer than two to pick from."""
        pool = list(dict.fromkeys(models))
        if len(pool) < 2:
            return None
        return cls(models=(rng or random.SystemRandom()).sample(pool, 2), blind=True)

    @property
    def hidden(self) -> bool:
        return self.blind and not self.revealed

    def label(self, pane: int) -> str:
        return LETTERS[pane]

    def questions(self) -> int:
        return sum(m.get("role") == "user" for m in self.histories[0]) if self.histories else 0

    def can_vote(self) -> bool:
        """An answered question not voted on yet."""
        return self.questions() > self.voted

    def shown(self, pane: int, history: History | None = None, lang: str = "en") -> History:
        """The pane's history as the page may see it now."""
        history = self.histories[pane] if history is None else history
        if not self.hidden:
            return history
        names = self._stand_ins(lang)
        return mask(history, names, pane=names[self.models[pane]])

    def hide(self, text: str, lang: str = "en") -> str:
        """A sentence or stats line, with the models' names hidden while they are."""
        return _replace(text, self._stand_ins(lang)) if self.hidden else text

    def _stand_ins(self, lang: str) -> dict[str, str]:
        """What stands where each model's name would be: "Model A", "模型 A"."""
        return {m: say(lang, "compare_model", {"pane": self.label(i)})
                for i, m in enumerate(self.models)}

    def names(self) -> list[str]:
        """What each pane is called in votes and on the leaderboard: its model, and its
        temperature where two panes share a model."""
        out = []
        for i, model in enumerate(self.models):
            same = [j for j, m in enumerate(self.models) if m == model]
            if len(same) > 1 and i < len(self.choices):
                out.append(f"{model} @ {self.choices[i].temperature:g}")
            else:
                out.append(model)
        return out

    def votes(self, verdict: str, *, question: str, images: Sequence[tuple[str, str]],
              answers: Sequence[str], reasons: Sequence[str] = (), note: str = "", owner: str = "",
              who: str = "", at: str = "") -> list[Vote]:
        """The pairwise votes a verdict stands for: with two panes one vote; with more, the best
        pane beats each other one, a tie ties every pair, "all bad" marks every pair both bad.
        Pairs whose panes are the same model with the same choices say nothing and are left out."""
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        names, n = self.names(), len(self.models)
        pairs: list[tuple[int, int, str]] = []
        if verdict in ("tie", "bad"):
            outcome = "tie" if verdict == "tie" else "both_bad"
            pairs = [(i, j, outcome) for i in range(n) for j in range(i + 1, n)]
        else:
            best = VERDICTS.index(verdict)
            if best >= n:
                raise ValueError(f"there is no pane {verdict.upper()}")
            pairs = [(best, j, "a") if best < j else (j, best, "b") for j in range(n) if j != best]
        blind = self.hidden
        return [Vote(names[i], names[j], outcome, self.choices[i], self.choices[j], question,
                     tuple(images), answers[i], answers[j], blind, tuple(reasons), note, owner,
                     who, at)
                for i, j, outcome in pairs if names[i] != names[j]]


def mask(history: History, names: dict[str, str], pane: str) -> History:
    """A copy of `history` with each model's name replaced by its label, and provenance notes
    reduced to the pane's label and their stats (the record they carry names the model)."""
    out: History = []
    for message in history:
        record = record_of(message)
        if record is not None:
            out.append({"role": "assistant", "content": "",
                        "metadata": {"title": f"{PROVENANCE_ICON} {pane}", "status": "done",
                                     "log": _replace(str((message.get("metadata") or {})
                                                         .get("log", "")), names)}})
            continue
        out.append(_masked(message, names))
    return out


def _masked(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _replace(value, names)
    if isinstance(value, list):
        return [_masked(v, names) for v in value]
    if isinstance(value, dict):  # file paths stay as they are: they name the person's upload
        return {k: v if k in ("path", "url", "mime_type", "role") else _masked(v, names)
                for k, v in value.items()}
    return value


def _replace(text: str, names: dict[str, str]) -> str:
    if not text or not names:
        return text
    pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True) if n)
    lower = {n.lower(): label for n, label in names.items()}
    return re.sub(pattern, lambda m: lower[m.group(0).lower()], text, flags=re.IGNORECASE)


def pane_count(mode: Any, panes: Any) -> int:
    """Two in a blind round; else as chosen (2-4), and 2 for anything no control could send."""
    return int(panes) if mode != "blind" and panes in range(2, MOST_PANES + 1) else 2


@dataclass(frozen=True)
class Setup:
    """The page's controls when a question is asked: blind or not, how many panes, each pane's
    model and temperature, and the choices the panes share."""

    blind: bool
    panes: int
    models: tuple[str, ...]
    temperatures: tuple[float, ...]
    max_tokens: int
    system_prompt: str
    quality: str
    thinking: bool

    @classmethod
    def of(cls, mode: str, panes: Any, models: Sequence[Any], temperatures: Sequence[Any],
           max_tokens: Any, system_prompt: Any, quality: Any, thinking: Any) -> Setup:
        count = pane_count(mode, panes)
        return cls(mode == "blind", count, tuple(str(m or "") for m in models[:count]),
                   tuple(float(t) for t in temperatures[:count]), int(max_tokens),
                   str(system_prompt or ""), str(quality or "balanced"), bool(thinking))

    def choices(self, models: Sequence[str], temperature: float, top_p: float) -> list[Choices]:
        """Each pane's choices (a blind round's panes all at the server's temperature)."""
        temps = [temperature] * len(models) if self.blind else list(self.temperatures)
        return [Choices(m, t, self.max_tokens, self.system_prompt, top_p, self.quality, "all",
                        self.thinking) for m, t in zip(models, temps, strict=False)]
