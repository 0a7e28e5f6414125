"""``otel-label-studio`` with a crash injected between an import and the spool commit that records it.

The process dies with status 86 right after Label Studio accepted the first import, before the
spool marks those records delivered: exactly the window exactly-once delivery must survive.
"""

from __future__ import annotations

import os
import sys

from otel_label_studio.cli import main
from otel_label_studio.delivery import worker

CRASH_STATUS = 86

_original_init = worker.DeliveryWorker.__init__


def _init_with_crash(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _original_init(self, *args, **kwargs)
    self._after_import = lambda: os._exit(CRASH_STATUS)


worker.DeliveryWorker.__init__ = _init_with_crash  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
