"""``distortx`` command line: thin over the library. The group is :mod:`.main`; each sibling module adds its
subcommands to it when imported here."""
from __future__ import annotations

import sys

from . import dataset, distortions, engine, estimate, plugins, robustness  # noqa: F401  (register their commands)
from .main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
