"""The choices a person makes for one request (model, temperature, ...): one frozen value.

The page saves them in the browser by name, the answer records carry them, and adding a choice is
a field here, a control in the page, and its sentence in ui/i18n.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Choices:
    """The per-request choices of the page, in the order of its controls."""

    model: str = ""
    temperature: float = 0.7
    max_tokens: int = 1024
    system_prompt: str = ""
    top_p: float = 1.0
    quality: str = "balanced"
    history_images: str = "all"
    thinking: bool | None = True  # None: not sent, the endpoint's default

    @classmethod
    def of(cls, *values: Any) -> Choices:
        """From the page's controls' values, in field order."""
        names = [f.name for f in fields(cls)]
        return cls(**dict(zip(names, values, strict=True)))

    @classmethod
    @functools.cache  # asked per key of every stored record read (a page of results: hundreds)
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_(self, **changes: Any) -> Choices:
        return replace(self, **changes)
