"""Rate limiting of librdkafka's log lines."""

from __future__ import annotations

import logging

from custody.kafka.logs import RateLimitFilter


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("rdkafka", logging.ERROR, __file__, 1, message, None, None)


def test_filter_passes_limit_then_drops():
    rate_limit = RateLimitFilter(limit=3, window_s=60)

    passed = [rate_limit.filter(record(f"connect failed {i}")) for i in range(10)]

    assert passed == [True] * 3 + [False] * 7


def test_next_window_reports_dropped_count():
    rate_limit = RateLimitFilter(limit=1, window_s=0.0)
    rate_limit.filter(record("first"))
    rate_limit._window_start = 1e18  # keep the window open so the next record is dropped
    rate_limit.filter(record("dropped"))
    rate_limit._window_start = 0.0

    summary = record("again")
    assert rate_limit.filter(summary) is True
    assert "1 similar librdkafka messages dropped" in summary.msg
