"""Makes the package importable from a source checkout (``src`` layout) when it is not pip-installed, so these
tests run both from the package folder and from the soundcheck repository's root (``python -m pytest``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

if importlib.util.find_spec("soundcheck_example_pagerduty") is None:
    sys.path.insert(0, str(SRC))
