"""``python -m contrastkit``: the command line (see ``contrastkit.cli``)."""

from contrastkit.cli import main

raise SystemExit(main())
