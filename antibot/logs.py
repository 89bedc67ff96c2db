"""Structured logs: one JSON object per line on stderr, with the record's extra fields."""

from __future__ import annotations

import json
import logging
import math
import sys
import time

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                out[key] = value if isinstance(value, (int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class WarnLimiter:
    """Log a warning at most once per ``every`` seconds per key, with the count suppressed since:
    a failure that repeats on every packet cannot flood the log."""

    def __init__(self, logger: str, every: float = 10.0) -> None:
        self.log = logging.getLogger(logger)
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}

    def warn(self, key: str, msg: str, exc: BaseException) -> None:
        now = time.monotonic()
        last, count = self._last.get(key, (-math.inf, 0))
        if now - last < self.every:
            self._last[key] = (last, count + 1)
            return
        self._last[key] = (now, 0)
        self.log.warning(msg, extra={"error": repr(exc), "suppressed": count}, exc_info=exc)
