"""Starting a background thread when the interpreter may already be shutting down.

The SDK's last batch reaches an exporter from an ``atexit`` handler (``TracerProvider.shutdown``),
and Python 3.12 (3.12.1 here) refuses new threads there: ``RuntimeError: can't create new thread
at interpreter shutdown``. Whoever cannot get a thread does the work in the calling thread instead,
so what the app made is still delivered.
"""

from __future__ import annotations

import logging
import threading

_logger = logging.getLogger(__name__)


def start(thread: threading.Thread) -> bool:
    """Start ``thread``; False (and no error) when the interpreter refuses new threads."""
    try:
        thread.start()
    except RuntimeError as refused:  # at interpreter shutdown (Python 3.12)
        _logger.debug("No new thread %s (%s): the work is done in the calling thread", thread.name, refused)
        return False
    return True
