"""`python -m deploy.monitor db-exporter|textfile-exporter`: `hotel cluster monitor ...` without the
console script (the local monitoring starts its processes this way, as the server user)."""

import sys

from deploy.cli import main

sys.argv = [sys.argv[0], "cluster", "monitor", *sys.argv[1:]]
main()
