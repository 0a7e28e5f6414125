"""``python -m otel_label_studio.cli``"""

import sys

from . import main

sys.exit(main())
