"""`python -m deploy ...` is `hotel ...` without relying on the console script being on PATH
(the local stack starts its Patroni nodes and exporters this way, as the server user)."""

from deploy.cli import main

main()
