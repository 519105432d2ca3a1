"""Settings read once from the environment (and `.env`, loaded by app.py).

Every knob is an environment variable; README.md has the table. Settings are frozen: the app
never changes them at run time, and nothing per-user lives here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ui.profiles import parse_overrides

ZHIPU_BASE_URL = "https://open.bigmodel.cn/api/paas/v4"
DEFAULT_MODELS = ("GLM-4V-Plus", "GLM-4V")


@dataclass(frozen=True)
class Preset:
    """An endpoint people already know: where it is, which models, how it wants images."""

    base_url: str
    models: tuple[str, ...]
    profiles: str = ""  # GLM_MODEL_PROFILES-style overrides for this endpoint
    needs_key: bool = True  # local servers accept any key


PRESETS: dict[str, Preset] = {
    # The user's API description: proxy-style names, Zhipu's URL.
    "custom": Preset(ZHIPU_BASE_URL, DEFAULT_MODELS),
    "zhipu": Preset(ZHIPU_BASE_URL, ("glm-4.5v", "glm-4.6v", "glm-4.6v-flash",
                                     "glm-4.1v-thinking-flash", "glm-4v-plus-0111", "glm-4v-flash")),
    "zai": Preset("https://api.z.ai/api/paas/v4", ("glm-4.5v", "glm-4.6v", "glm-4.6v-flash")),
    # one-api / new-api: set OPENAI_BASE_URL to the proxy's https://host/v1 too.
    "proxy": Preset("http://127.0.0.1:3000/v1", DEFAULT_MODELS),
    "openai": Preset("https://api.openai.com/v1", ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")),
    "ollama": Preset("http://127.0.0.1:11434/v1", ("qwen2.5vl", "llava", "gemma3"), needs_key=False),
    "vllm": Preset("http://127.0.0.1:8000/v1", ("Qwen/Qwen2.5-VL-7B-Instruct",), needs_key=False),
    "lmstudio": Preset("http://127.0.0.1:1234/v1", ("qwen2.5-vl-7b-instruct",), needs_key=False),
}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable and how to fix it."""


class Secret(str):
    """A string that never shows itself in repr/str formatting of containers or logs."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from the environment."""

    api_key: Secret = field(default=Secret(""), repr=False)
    key_required: bool = True
    preset: str = "custom"
    base_url: str = ZHIPU_BASE_URL
    models: tuple[str, ...] = DEFAULT_MODELS
    default_model: str = DEFAULT_MODELS[0]
    temperature: float = 0.7
    max_tokens: int = 1024
    max_tokens_limit: int = 8192
    top_p: float = 0.6
    system_prompt: str = ""
    image_quality: str = "balanced"
    max_upload_mb: int = 20
    max_images: int = 0  # 0 = follow the model profile
    profile_overrides: str = ""  # e.g. "glm-4v-plus:data_url=false,max_images=5;..."
    concurrency: int = 64
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 3
    retry_backoff: float = 1.0  # seconds before the first retry; doubles each time
    file_ttl_seconds: int = 3600
    byok: bool = False
    allow_any_model: bool = False  # models outside `models` may be asked for with the server's key
    max_question_chars: int = 32_000  # the question, and the system prompt, each
    max_answer_seconds: float = 600.0  # an answer still streaming then is stopped
    visitor_share: float = 0.25  # of `concurrency` that one visitor (address) may hold at once
    log_content: bool = False  # log what people ask (off: metadata only)
    host: str = "127.0.0.1"
    port: int = 7860
    data_dir: Path = Path("data")  # where the SQLite store (and nothing else yet) is kept
    database_url: Secret = field(default=Secret(""), repr=False)  # PostgreSQL instead; has a password
    # Sign-in (GLM_USERS="alice:secret,bob:other"): a team's server; everyone signed in sees the
    # team's test runs and ratings, each marked with who made it. Without it, each browser its own.
    users: tuple[tuple[str, Secret], ...] = field(default=(), repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `env` (default: os.environ); raise ConfigError on bad values."""
        env = os.environ if env is None else env
        get = _Reader(env)
        preset_name = get.choice("GLM_PRESET", "custom", tuple(PRESETS))
        preset = PRESETS[preset_name]
        names = get.text("GLM_MODELS", ",".join(preset.models)).split(",")
        models = tuple(m.strip() for m in names if m.strip())
        if not models:
            raise ConfigError("GLM_MODELS is empty: list at least one model name, e.g. glm-4v-plus-0111")
        default_model = get.text("GLM_DEFAULT_MODEL", models[0])
        if default_model not in models:
            models = (default_model, *models)
        host = get.text("GRADIO_SERVER_NAME", "127.0.0.1")
        overrides = ";".join(filter(None, (preset.profiles, get.text("GLM_MODEL_PROFILES", ""))))
        try:
            parse_overrides(overrides)  # fail at start-up, not at the first question
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return cls(
            api_key=Secret(get.text("OPENAI_API_KEY", "").strip()),
            key_required=preset.needs_key,
            preset=preset_name,
            base_url=get.text("OPENAI_BASE_URL", preset.base_url).rstrip("/"),
            models=models,
            default_model=default_model,
            temperature=get.number("GLM_TEMPERATURE", 0.7, 0.0, 2.0),
            max_tokens=get.integer("GLM_MAX_TOKENS", 1024, 1, 1_000_000),
            max_tokens_limit=get.integer("GLM_MAX_TOKENS_LIMIT", 8192, 1, 1_000_000),
            top_p=get.number("GLM_TOP_P", 0.6, 0.01, 1.0),
            system_prompt=get.text("GLM_SYSTEM_PROMPT", ""),
            image_quality=get.choice("GLM_IMAGE_QUALITY", "balanced", ("fast", "balanced", "max")),
            max_upload_mb=get.integer("GLM_MAX_UPLOAD_MB", 20, 1, 1024),
            max_images=get.integer("GLM_MAX_IMAGES", 0, 0, 1000),
            profile_overrides=overrides,
            concurrency=get.integer("GLM_CONCURRENCY", 64, 1, 10_000),
            connect_timeout=get.number("GLM_CONNECT_TIMEOUT", 10.0, 0.1, 600.0),
            read_timeout=get.number("GLM_READ_TIMEOUT", 60.0, 0.1, 3600.0),
            retries=get.integer("GLM_RETRIES", 3, 0, 10),
            retry_backoff=get.number("GLM_RETRY_BACKOFF", 1.0, 0.0, 60.0),
            file_ttl_seconds=get.integer("GLM_FILE_TTL", 3600, 60, 7 * 24 * 3600),
            byok=get.flag("GLM_BYOK", False),
            allow_any_model=get.flag("GLM_ALLOW_ANY_MODEL", False),
            max_question_chars=get.integer("GLM_MAX_QUESTION_CHARS", 32_000, 1, 10_000_000),
            max_answer_seconds=get.number("GLM_MAX_ANSWER_SECONDS", 600.0, 1.0, 86_400.0),
            visitor_share=get.number("GLM_VISITOR_SHARE", 0.25, 0.01, 1.0),
            log_content=get.flag("GLM_LOG_CONTENT", False),
            host=host,
            port=get.integer("GRADIO_SERVER_PORT", 7860, 1, 65535),
            data_dir=Path(get.text("GLM_DATA_DIR", str(default_data_dir()))).expanduser(),
            database_url=Secret(get.text("DATABASE_URL", "").strip()),
            users=_users(get.text("GLM_USERS", "")),
        )

    @property
    def endpoint_host(self) -> str:
        """The endpoint as visitors may see it: scheme, host and port only (no credentials in
        `user:pass@`, no path, no `?api-key=`)."""
        return public_host(self.base_url)

    @property
    def per_visitor(self) -> int:
        """Answers one visitor may have streaming at once."""
        return max(1, math.ceil(self.concurrency * self.visitor_share))

    @property
    def has_key(self) -> bool:
        """True when the server can call the endpoint without a visitor's key."""
        return bool(self.api_key) or not self.key_required


def _users(text: str) -> tuple[tuple[str, Secret], ...]:
    """GLM_USERS: "name:password" pairs separated by commas."""
    users = []
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, password = pair.partition(":")
        if not sep or not name.strip() or not password:
            raise ConfigError("GLM_USERS must be name:password pairs separated by commas, "
                              "e.g. alice:secret1,bob:secret2")
        users.append((name.strip(), Secret(password)))
    return tuple(users)


def default_data_dir(space_storage: Path = Path("/data")) -> Path:
    """A Hugging Face Space's persistent storage (/data) when it is there and writable, else a
    `data` folder in the working directory."""
    if space_storage.is_dir() and os.access(space_storage, os.W_OK | os.X_OK):
        return space_storage
    return Path.cwd() / "data"


def public_host(url: str) -> str:
    """`https://user:pw@host:8443/v1?key=x` → `https://host:8443`."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        return "?"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


class _Reader:
    """Typed access to environment variables with messages that name the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str) -> str:
        value = self.env.get(name)
        return default if value is None or value.strip() == "" else value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise ConfigError(f"{name}={value} is out of range: use {lo} to {hi}")
        return value

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None
        if not lo <= value <= hi:
            raise ConfigError(f"{name}={value} is out of range: use {lo} to {hi}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r}: use true or false")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).strip().lower()
        if value not in choices:
            raise ConfigError(f"{name}={value!r}: use one of {', '.join(choices)}")
        return value
