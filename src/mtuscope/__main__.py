"""`python -m mtuscope` runs the command line."""

import sys

from mtuscope.cli import main

sys.exit(main())
