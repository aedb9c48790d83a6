"""``python -m contrastkit``: the command line (see ``contrastkit.runs.cli``)."""

import sys

try:
    from contrastkit.runs.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch and friends are still being imported
    print("\ncontrastkit: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
