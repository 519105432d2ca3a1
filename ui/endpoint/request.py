"""What goes to the endpoint and what comes back: one request, and the events of its stream.

Plain data, no SDK: the page, the snippets and the records use these without loading openai.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ui.errors import EndpointError


@dataclass(frozen=True)
class ChatRequest:
    """Everything sent to /chat/completions besides the key."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    do_sample: bool | None = None  # Zhipu: False = greedy decoding
    thinking: bool | None = None  # Zhipu: {"thinking": {"type": "enabled"|"disabled"}}
    include_usage: bool = False  # stream_options.include_usage; some proxies reject it
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """Keyword arguments for `chat.completions.create` (stream=True added by the caller)."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": self.messages,
                                  "max_tokens": self.max_tokens}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.top_p is not None:
            kwargs["top_p"] = self.top_p
        if self.include_usage:
            kwargs["stream_options"] = {"include_usage": True}
        extra = dict(self.extra)
        if self.do_sample is not None:
            extra["do_sample"] = self.do_sample
        if self.thinking is not None:
            extra["thinking"] = {"type": "enabled" if self.thinking else "disabled"}
        if extra:
            kwargs["extra_body"] = extra
        return kwargs


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Finish:
    reason: str


@dataclass(frozen=True)
class Retrying:
    """Announced before waiting `delay` seconds and trying again."""

    attempt: int
    total: int
    delay: float
    error: EndpointError


@dataclass(frozen=True)
class Skipped:
    """Parts of a delta that were not text (an image part, an object): left out, and counted."""

    count: int


Event = TextDelta | ReasoningDelta | Usage | Finish | Retrying | Skipped
