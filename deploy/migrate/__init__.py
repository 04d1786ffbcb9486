"""Migrations as an operator runs them: the runner (lock, validation, ledger, hooks) around
Alembic, the schema snapshot each revision is proven against, and the squawk lint."""
