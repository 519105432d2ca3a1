"""The streamed answer's figures (ui/conversation.py Answer.timings) and the stats line."""

from __future__ import annotations

import time

from ui.conversation import Answer
from ui.endpoint import Usage
from ui.i18n import say


def _answer(first_token_ago: float) -> Answer:
    answer = Answer.start([])
    now = time.monotonic()
    answer.started, answer.first_token = now - first_token_ago - 0.5, now - first_token_ago
    answer.usage = Usage(120, 300)
    return answer


def test_an_answer_that_streamed_gets_its_rate():
    _, rate, _ = _answer(first_token_ago=3.0).timings()
    assert rate is not None and 90 < rate <= 100


def test_an_answer_read_in_one_go_gets_no_made_up_rate():
    """Two panes read at once in Compare showed "302305 tokens/s": all tokens in one read."""
    ttft, rate, total = _answer(first_token_ago=0.0).timings()
    assert rate is None and ttft >= 0.5 and total >= ttft
    line = say("en", "stats_no_rate", {"prompt": 120, "completion": 300, "ttft": ttft, "total": total})
    assert "tokens/s" not in line and "300 answer tokens" in line
