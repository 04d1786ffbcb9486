"""`python -m deploy.cluster node NAME`: `hotel cluster ...` without relying on the console
script being on PATH (the local stack starts its nodes this way, as the server user)."""

import sys

from deploy.cli import main

sys.argv = [sys.argv[0], "cluster", *sys.argv[1:]]
main()
