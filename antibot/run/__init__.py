"""``antibot run``, put together in one place: :class:`Runtime` (start, stop) and :func:`run`."""

from .runtime import Runtime, run

__all__ = ["Runtime", "run"]
