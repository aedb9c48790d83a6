"""``python -m contrastkit.data download`` (``make data``) and ``python -m contrastkit.data verify``."""

from contrastkit.data.mnist import main

raise SystemExit(main())
