"""What each vision model accepts: images per request, image encoding, token and temperature limits.

Figures come from ../shared/reference/glm-vision-facts.md (Zhipu's docs, SDKs and proxy reports).
Names match case-insensitively, with or without a proxy's `provider/` prefix; unknown models get a
permissive profile. Every field can be overridden with GLM_MODEL_PROFILES, e.g.
`glm-4v-plus:data_url=true,max_images=10;my-proxy-model:base64=false`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

Thinking = Literal["none", "optional", "always"]


@dataclass(frozen=True)
class ModelProfile:
    """The rules one model follows."""

    name: str
    max_images: int | None = None  # per request, history included; None = no known limit
    base64: bool = True  # accepts inline images (False: http(s) links only)
    data_url: bool = True  # send `data:image/...;base64,` (True) or bare base64 (False)
    max_tokens_default: int = 1024
    max_tokens_cap: int | None = None  # None = use the GLM_MAX_TOKENS_LIMIT setting
    temperature_min: float = 0.0
    temperature_max: float = 1.0
    greedy_at_zero: bool = True  # temperature 0 is sent as do_sample=false (Zhipu's convention)
    thinking: Thinking = "none"
    video: bool = False
    known: bool = True

    def clamp_temperature(self, value: float) -> float:
        """Keep temperature inside the model's range."""
        return min(max(value, self.temperature_min), self.temperature_max)

    def clamp_max_tokens(self, value: int, limit: int) -> int:
        """Keep max_tokens inside the model's cap (or the configured limit)."""
        return max(1, min(value, self.max_tokens_cap or limit))


_GLM = ModelProfile(name="glm", data_url=False)

KNOWN: dict[str, ModelProfile] = {
    p.name: p
    for p in (
        # 2024 reports: glm-4v / glm-4v-plus reject the data: prefix; send bare base64.
        replace(_GLM, name="glm-4v", max_images=1, max_tokens_cap=8192),
        replace(_GLM, name="glm-4v-plus", max_images=5, max_tokens_cap=8192, video=True),
        replace(_GLM, name="glm-4v-plus-0111", max_images=5, max_tokens_cap=8192, video=True),
        replace(_GLM, name="glm-4v-flash", max_images=1, base64=False, max_tokens_cap=1024),
        replace(_GLM, name="glm-4.1v-thinking-flash", max_images=50, data_url=True,
                max_tokens_default=16384, max_tokens_cap=32768, thinking="always"),
        replace(_GLM, name="glm-4.1v-thinking-flashx", max_images=50, data_url=True,
                max_tokens_default=16384, max_tokens_cap=32768, thinking="always"),
        replace(_GLM, name="glm-4.5v", max_images=50, data_url=True,
                max_tokens_default=16384, max_tokens_cap=16384, thinking="optional", video=True),
        replace(_GLM, name="glm-4.6v", max_images=50, data_url=True,
                max_tokens_default=16384, max_tokens_cap=32768, thinking="optional", video=True),
        replace(_GLM, name="glm-4.6v-flash", max_images=50, data_url=True,
                max_tokens_default=16384, max_tokens_cap=32768, thinking="optional", video=True),
    )
}

# OpenAI-style endpoint we know nothing about: let everything through, let it answer.
PERMISSIVE = ModelProfile(
    name="", greedy_at_zero=False, temperature_max=2.0, known=False
)


def parse_overrides(text: str) -> dict[str, dict[str, object]]:
    """Parse `model:field=value,field=value;model2:...` into {model: {field: value}}."""
    types = {f.name: f.type for f in fields(ModelProfile)}
    result: dict[str, dict[str, object]] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        model, _, assignments = entry.partition(":")
        values: dict[str, object] = {}
        for item in filter(None, (a.strip() for a in assignments.split(","))):
            key, _, raw = item.partition("=")
            key, raw = key.strip(), raw.strip()
            if key not in types or key in ("name", "known"):
                raise ValueError(f"GLM_MODEL_PROFILES: unknown field {key!r} for {model!r}")
            values[key] = _convert(str(types[key]), raw, key)
        result[_normalise(model)] = values
    return result


def _convert(type_name: str, raw: str, key: str) -> object:
    if raw.lower() in ("none", "null", "") and "None" in type_name:
        return None
    if "bool" in type_name:
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"GLM_MODEL_PROFILES: {key}={raw!r} should be true or false")
        return raw.lower() in ("true", "1", "yes")
    try:
        if "int" in type_name:
            return int(raw)
        if "float" in type_name:
            return float(raw)
    except ValueError:
        raise ValueError(f"GLM_MODEL_PROFILES: {key}={raw!r} is not a number") from None
    if key == "thinking" and raw not in ("none", "optional", "always"):
        raise ValueError("GLM_MODEL_PROFILES: thinking is one of none, optional, always")
    return raw


def _normalise(model: str) -> str:
    return model.strip().lower().rsplit("/", 1)[-1]


def profile_for(model: str, overrides: dict[str, dict[str, object]] | None = None) -> ModelProfile:
    """The profile for `model` (case-insensitive), with configured overrides applied; its name is
    the model as the person chose it ("GLM-4V-Plus"), for the sentences that name it."""
    key = _normalise(model)
    base = KNOWN.get(key) or PERMISSIVE
    extra = (overrides or {}).get(key) or {}
    return replace(base, **{**extra, "name": model.strip() or key})  # type: ignore[arg-type]
