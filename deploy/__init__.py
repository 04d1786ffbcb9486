"""How the platform runs: the root `hotel` command, the embedded server, migrations, the HA
stack (local processes and compose), backups, and the process helpers they share."""
