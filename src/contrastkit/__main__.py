"""``python -m contrastkit ...``: the command line (what ``torchrun -m contrastkit`` runs)."""

import sys

from contrastkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
