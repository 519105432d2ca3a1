"""What can go wrong, as one tree, and how each endpoint answer maps onto it.

    ChatError                 .key names a sentence in ui/i18n.py, .params fill it
    │     no_key, no_key_byok, no_choices
    ├── InputError            the user's message cannot be sent as it is (nothing sent yet)
    │   │ empty, too_many_images, base64_not_accepted, bad_link, question_too_long,
    │   │ system_too_long, model_not_allowed, visitor_busy, api_bad_images, api_not_text,
    │   │ api_bad_number
    │   ├── ImageError        (ui/imaging/payload.py) a file that cannot be sent: image_*
    │   └── FileRefused       (ui/paths.py) a request names a file this app did not store: file_refused
    ├── ExportError           (ui/export_format.py) an export or import that cannot be done:
    │     export_too_large, import_*
    ├── StoreUnavailable      (ui/store/) the database cannot be reached or written just now:
    │     store_unavailable (.params: detail, the driver's words with no password, for logs)
    └── EndpointError         the endpoint refused or failed; .retryable, .retry_after, .status, .code
          HTTP status (+ Zhipu code or proxy wording):  auth, model_not_found, model_forbidden,
              bad_request,
              messages_illegal, prompt_too_long, sensitive_input, too_large, quota,
              rate_limited*, server_error*, unknown
          transport:  connect (no response), dropped (mid-body), timeout_first, stalled
          stream:     malformed (unparseable chunk), stream_error ({"error": …} frame),
                      oversized (a line, event or body over ui/endpoint MAX_EVENT_BYTES)
          * retried before the first token (ui/endpoint/); everything else goes to the user at once

A finish_reason other than `stop` is not an error (the answer arrived) but still gets a sentence:
see FINISH_KEYS. Only ui/page/chat.py turns these into text for people; str() of an ImageError or
ExportError is its English sentence (for logs), of the others the key and params.
"""

from __future__ import annotations

import re


class ChatError(Exception):
    """Base: `key` names the user-facing sentence, `params` fill its placeholders."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __str__(self) -> str:
        detail = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.key}({detail})" if detail else self.key


class InputError(ChatError):
    """The user's turn cannot be sent as it is; nothing reached the endpoint."""


class StoreUnavailable(ChatError):
    """The store's database is out of reach for now (down, locked, full); what was saved is kept."""


class EndpointError(ChatError):
    """The endpoint said no, or the connection failed."""

    def __init__(self, key: str, *, retryable: bool = False, status: int | None = None,
                 code: str | None = None, **params: object) -> None:
        super().__init__(key, **params)
        self.retryable = retryable
        self.status = status
        self.code = code
        self.retry_after: float | None = None  # seconds, when the endpoint sent Retry-After


# Zhipu business codes (glm-vision-facts.md) and what they mean for the user.
_CODE_KEYS: dict[str, tuple[str, bool]] = {
    **{str(c): ("auth", False) for c in range(1000, 1005)},
    "1113": ("quota", False),
    "1210": ("bad_request", False),
    "1211": ("model_not_found", False),
    "1214": ("messages_illegal", False),
    "1220": ("model_forbidden", False),
    "1234": ("server_error", True),
    "1261": ("prompt_too_long", False),
    "1301": ("sensitive_input", False),
    "1302": ("rate_limited", True),
    "1303": ("rate_limited", True),
    "1305": ("rate_limited", True),
}

_STATUS_KEYS: dict[int, tuple[str, bool]] = {
    400: ("bad_request", False),
    401: ("auth", False),
    403: ("auth", False),
    404: ("model_not_found", False),
    408: ("server_error", True),
    413: ("too_large", False),
    422: ("bad_request", False),
    429: ("rate_limited", True),
}

# Proxies drop Zhipu's codes and keep only words: recognise the common ones.
_MESSAGE_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"insufficient|balance|余额|欠费|quota", re.I), "quota"),
    (re.compile(r"prompt.*(too long|exceed)|context.*(length|window)|超过.*长度", re.I),
     "prompt_too_long"),
    (re.compile(r"sensitive|敏感", re.I), "sensitive_input"),
    (re.compile(r"model.*(not found|not exist|does not exist)|模型不存在", re.I), "model_not_found"),
)

FINISH_KEYS: dict[str, str] = {
    "length": "finish_length",
    "sensitive": "finish_sensitive",
    "content_filter": "finish_sensitive",  # what LiteLLM-style proxies turn `sensitive` into
    "network_error": "finish_network_error",
    "model_context_window_exceeded": "finish_context",
}


def classify_http(status: int | None, code: str | None, message: str) -> EndpointError:
    """Map an HTTP error (status, Zhipu code, message) to an EndpointError."""
    code = str(code) if code not in (None, "") else None
    detail = _short(message)
    if code in _CODE_KEYS:
        key, retryable = _CODE_KEYS[code]
    else:
        key, retryable = _STATUS_KEYS.get(status or 0, ("unknown", False))
        if status is not None and status >= 500:
            key, retryable = "server_error", True
        # A 400/429/500 from a proxy may still say what it was in words.
        for pattern, hinted in _MESSAGE_HINTS:
            if pattern.search(message):
                key, retryable = hinted, False
                break
    return EndpointError(key, retryable=retryable, status=status, code=code, detail=detail)


_TAG = re.compile(r"<[^>]*>")


def _short(message: str, limit: int = 200) -> str:
    """One line of the endpoint's own words, trimmed, for the end of our sentence."""
    line = " ".join(_TAG.sub(" ", message).split())  # a proxy's HTML error page, as text
    return line if len(line) <= limit else line[: limit - 1] + "…"
