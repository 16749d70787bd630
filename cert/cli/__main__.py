"""``python -m cert.cli``: the ``cert`` command."""

import sys

from cert.cli import main

sys.exit(main())
