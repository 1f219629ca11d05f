"""``python -m ncnnq.cli``: the ``ncnnq`` command."""

from __future__ import annotations

import sys

from .app import main

sys.exit(main())
