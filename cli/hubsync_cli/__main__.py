"""``python -m hubsync_cli``: the ``hubsync`` command."""

import sys

from hubsync_cli.main import main

sys.exit(main())
