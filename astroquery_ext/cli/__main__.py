"""``python -m astroquery_ext.cli``: the ``astroquery-ext`` command."""

import sys

from astroquery_ext.cli import main

if __name__ == "__main__":  # pragma: no cover - run as a script
    sys.exit(main())
