"""Gradio's state for a new session, made without the config of every component on the page.

For every new session Gradio 6.31 (gradio/state_holder.py, `SessionState.__init__`) computes the
config of every block of the Blocks (`config_for_block`: each component's get_config()), kept for
deep links and for the values events write into it, and keeps it as long as the session (up to
10,000 of them). Every call of /ask through the REST API is a new session, and the Compare, Test
and Leaderboard pages live in the same Blocks: 121 blocks, ~15 ms of CPU for each new session.
bench/RESULTS.md ("Crowd CPU: which suspect"), app CPU while 64 users ask at once (images
prepared): 2.30 → 1.10 s; RSS after the crowds 486 → 260 MB (gr.load_chat 267 MB).

Here a session's configs are made when first needed, each from the block the session began with:
an event makes only its own inputs' and outputs' (Gradio writes their values in), a deep link all
of them, in Gradio's order: the same values as before, for what is asked. It replaces Gradio's
`__init__` only while that is the one it was written for (`_GRADIOS_INIT`, a hash of its source):
after an upgrade that changes it Gradio's own stays, the log says so, and
tests/test_sessions.py fails until this is checked against the new one.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import textwrap
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from gradio import state_holder

log = logging.getLogger("glmchat")

# sha256 of textwrap.dedent(inspect.getsource(SessionState.__init__)) in Gradio 6.31
_GRADIOS_INIT = "18f17cf41597855687579249d1b465f47397d8f3aa7dd819d56c6242c78a9c36"


class DeferredConfigs(dict[int, Any]):
    """SessionState.config_values, each block's config made when it is first read."""

    def __init__(self, blocks_config: Any, blocks: dict[int, Any]) -> None:
        super().__init__()
        self._blocks_config = blocks_config
        self._pending = blocks  # id → the block the session began with, in Gradio's order
        self._order = list(blocks)
        # Gradio reads a session's configs from the event loop and from worker threads (its
        # postprocessing): a config is made once, and no reader sees it missing meanwhile.
        self._lock = threading.RLock()

    def __missing__(self, key: int) -> Any:
        with self._lock:
            if dict.__contains__(self, key):  # made meanwhile by another thread
                return dict.__getitem__(self, key)
            block = self._pending.pop(key, None)
            if block is None:
                raise KeyError(key)
            config = self._blocks_config.config_for_block(key, [], block)
            dict.__setitem__(self, key, config)
            return config

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return dict.__contains__(self, key) or key in self._pending

    def __setitem__(self, key: int, value: Any) -> None:
        with self._lock:
            self._pending.pop(key, None)
            dict.__setitem__(self, key, value)

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._pending)

    def __iter__(self) -> Iterator[int]:
        return iter(self.keys())

    def get(self, key: int, default: Any = None) -> Any:  # type: ignore[override]
        return self[key] if key in self else default  # noqa: SIM401 (dict.get skips __missing__)

    def _all(self) -> dict[int, Any]:
        """Every config, made now if it was not yet, in the order Gradio made them."""
        with self._lock:
            for key in list(self._pending):
                self.__missing__(key)
            ordered = {key: dict.__getitem__(self, key) for key in self._order
                       if dict.__contains__(self, key)}
            ordered.update((k, v) for k, v in dict.items(self) if k not in ordered)
            return ordered

    def keys(self) -> Any:  # type: ignore[override]
        return self._all().keys()

    def values(self) -> Any:  # type: ignore[override]
        return self._all().values()

    def items(self) -> Any:  # type: ignore[override]
        return self._all().items()


_gradios_init = state_holder.SessionState.__init__


def _deferred_init(self: Any, blocks: Any) -> None:
    # Gradio's own __init__, with no block to make a config for; then the deferred ones.
    _gradios_init(self, SimpleNamespace(default_config=blocks.default_config, blocks={}))  # type: ignore[arg-type]
    self.config_values = DeferredConfigs(
        self.blocks_config,
        {k: v for k, v in self.blocks_config.blocks.items() if k in blocks.blocks})


def init_source_hash() -> str:
    source = textwrap.dedent(inspect.getsource(_gradios_init))
    return hashlib.sha256(source.encode()).hexdigest()


def defer_session_configs() -> bool:
    """Make new sessions' configs on demand (see above); False, and Gradio's own way, if its
    SessionState is not the one this was written for."""
    try:
        known = init_source_hash() == _GRADIOS_INIT
    except (OSError, TypeError):
        known = False
    if not known:
        log.warning("gradio's SessionState changed: new sessions make every component's config "
                    "(ui/page/sessions.py not applied)")
        return False
    state_holder.SessionState.__init__ = _deferred_init  # type: ignore[method-assign]
    return True
