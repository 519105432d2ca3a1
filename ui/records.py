"""What produced an answer: the Choices sent with it and the AnswerRecord of how it went.

Plain data, no gradio. A record travels with its answer in the chat history, as a small UI-only
note under it (`provenance_message`): its title names the model and the choices that differ from
the defaults, its log line the tokens and times, and its `metadata.id` holds the record itself as
JSON, so exports carry it per answer and an import restores it. The Chatbot keeps only its own
metadata fields (title, log, id, ...), which is why the record rides in `id`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from ui.choices import Choices
from ui.i18n import say

RECORD_PREFIX = "answer-record:"
PROVENANCE_ICON = "🏷️"


@dataclass(frozen=True)
class AnswerRecord:
    """How one answer came about: the model and choices sent, usage, timings, how it ended."""

    model: str
    choices: Choices
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_s: float | None = None
    total_s: float | None = None
    finish: str | None = None  # stop, length, ... or None when it ended without one
    error: str | None = None  # the error key, when the answer failed
    at: str = ""  # when it was asked, ISO 8601 UTC

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["choices"] = {k: v for k, v in data["choices"].items() if k != "model"}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnswerRecord | None:
        """The record in an export or a history item, or None if it is not one."""
        try:
            choices = Choices(**{k: v for k, v in dict(data.get("choices") or {}).items()
                                 if k in Choices.names() and k != "model"},
                              model=str(data["model"]))
            known = {f.name for f in fields(cls)} - {"model", "choices"}
            return cls(model=str(data["model"]), choices=choices,
                       **{k: data[k] for k in known if k in data})
        except (KeyError, TypeError, ValueError):
            return None


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def provenance_message(record: AnswerRecord, defaults: Choices, lang: str) -> dict[str, Any]:
    """The UI-only note under an answer: who answered, with which choices, at what cost."""
    title = " · ".join([record.model, *_differences(record.choices, defaults, lang)])
    return {"role": "assistant", "content": _details(record, lang),
            "metadata": {"title": f"{PROVENANCE_ICON} {title}", "log": stats_line(record, lang),
                         "status": "done",
                         "id": RECORD_PREFIX + json.dumps(record.as_json(), ensure_ascii=False,
                                                          separators=(",", ":"))}}


def record_of(message: Mapping[str, Any]) -> AnswerRecord | None:
    """The AnswerRecord a provenance note carries, if `message` is one."""
    metadata = message.get("metadata") or {}
    raw = metadata.get("id") if isinstance(metadata, Mapping) else None
    if not isinstance(raw, str) or not raw.startswith(RECORD_PREFIX):
        return None
    try:
        data = json.loads(raw[len(RECORD_PREFIX):])
    except ValueError:
        return None
    return AnswerRecord.from_json(data) if isinstance(data, dict) else None


def records_after(history: Sequence[Mapping[str, Any]], start: int) -> list[AnswerRecord]:
    """The records of the answers from index `start` on."""
    return [r for m in history[start:] if (r := record_of(m)) is not None]


def _differences(choices: Choices, defaults: Choices, lang: str) -> list[str]:
    """The choices that differ from the page's defaults, as short phrases."""
    out = []
    for name in Choices.names():
        value = getattr(choices, name)
        if name == "model" or value == getattr(defaults, name):
            continue
        out.append(_phrase(name, value, lang))
    return out


def _phrase(name: str, value: Any, lang: str) -> str:
    if name == "system_prompt":
        return say(lang, "choice_system_prompt_set") if value else say(lang, "choice_system_prompt_none")
    if name == "thinking":
        return say(lang, "choice_thinking_on" if value else "choice_thinking_off") \
            if value is not None else say(lang, "choice_thinking_default")
    if name in ("quality", "history_images"):
        return say(lang, f"choice_{name}_{value}")
    if isinstance(value, float):
        value = f"{value:g}"
    return say(lang, f"choice_{name}", {"value": value})


def stats_line(record: AnswerRecord, lang: str) -> str:
    """Tokens, time to first token and total time, as one quiet line."""
    parts = []
    if record.prompt_tokens is not None and record.completion_tokens is not None:
        parts.append(say(lang, "record_tokens", {"prompt": record.prompt_tokens,
                                                 "completion": record.completion_tokens}))
    if record.first_token_s is not None:
        parts.append(say(lang, "record_first_token", {"seconds": f"{record.first_token_s:.1f}"}))
    if record.total_s is not None:
        parts.append(say(lang, "record_total", {"seconds": f"{record.total_s:.1f}"}))
    return " · ".join(parts)


def _details(record: AnswerRecord, lang: str) -> str:
    """Every choice and figure of the record, one line each (what the note shows when opened)."""
    c = record.choices
    lines = [say(lang, "record_model", {"value": record.model})]
    lines += [_phrase(name, getattr(c, name), lang) for name in Choices.names() if name != "model"]
    stats = stats_line(record, lang)
    if stats:
        lines.append(stats)
    if record.finish:
        lines.append(say(lang, "record_finish", {"value": record.finish}))
    if record.error:
        lines.append(say(lang, "record_error", {"value": record.error}))
    if record.at:
        lines.append(say(lang, "record_at", {"value": record.at}))
    return "\n".join(f"- {line}" for line in lines)
