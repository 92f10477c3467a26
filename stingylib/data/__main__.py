"""``python -m stingylib.data ensure NAME [--root DIR]``: see :func:`stingylib.data.fetch.main`."""

import sys

from .fetch import main

sys.exit(main())
