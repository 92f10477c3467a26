"""``python -m stingylib``: see :mod:`stingylib.cli`."""

from .cli import main

raise SystemExit(main())
