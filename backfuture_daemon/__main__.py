"""`python -m backfuture_daemon` runs the `backfuture` command (tests use it via sys.executable)."""

import sys

from backfuture_daemon.cli import main

sys.exit(main())
