"""``python -m distortx ...`` (also what ``torchrun -m distortx train ...`` runs)."""
import sys

from .cli import main
from .processes import ignore_sigterm_from_now

if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        ignore_sigterm_from_now()
