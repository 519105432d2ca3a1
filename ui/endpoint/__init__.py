"""The endpoint: requests out, typed events back (request.py), the streaming client with its
retries and error mapping (stream.py), what may be shown or logged of them (redact.py). The only
package that imports openai and httpx."""

from ui.endpoint.redact import describe, mask_secrets, redact, summary
from ui.endpoint.request import (
    ChatRequest,
    Event,
    Finish,
    ReasoningDelta,
    Retrying,
    Skipped,
    TextDelta,
    Usage,
)
from ui.endpoint.stream import Endpoint, Started, stream_chat, warm_up

__all__ = ["ChatRequest", "Endpoint", "Event", "Finish", "ReasoningDelta", "Retrying", "Skipped",
           "Started", "TextDelta", "Usage", "describe", "mask_secrets", "redact", "stream_chat", "summary",
           "warm_up"]
