"""Backups proven by restores: pgBackRest (full, diff, incr, PITR) and logical snapshots,
their schedule, metrics and settings (`hotel backup`)."""
