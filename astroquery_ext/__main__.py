"""``python -m astroquery_ext``: the ``astroquery-ext`` command (see `astroquery_ext.cli`)."""

import sys

from astroquery_ext.cli import main

if __name__ == "__main__":
    sys.exit(main())
