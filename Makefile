# Run `make` for this list. The first two targets are all a fresh Debian machine needs.
.DEFAULT_GOAL := help
VENV := .venv/bin
STAMP := .venv/.installed

.PHONY: help up down test lint format typecheck pytest erd install clean backup-bench \
	compose-up compose-down test-docker image

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

up: $(STAMP) ## Install what is missing; the whole platform (HA stack, seeded, under load, monitored)
	@if command -v etcd >/dev/null && { command -v haproxy || test -x /usr/sbin/haproxy; } >/dev/null \
	    && command -v prometheus >/dev/null && $(VENV)/python -c "import patroni" 2>/dev/null; then \
	  $(VENV)/hotel up --ha --seed demo --load --monitor; \
	else \
	  echo "the HA stack's packages are missing (run as root to install them): single embedded server"; \
	  $(VENV)/hotel up --seed demo; \
	fi

down: ## Stop everything `make up` started (data kept)
	$(VENV)/hotel down

compose-up: ## The platform on Docker: build the image, every profile, print the endpoints
	bash deploy/compose/compose.sh up

compose-down: ## Stop the compose stack (volumes kept; PURGE=1 removes them)
	bash deploy/compose/compose.sh down

image: ## A Docker engine (docker.io, dockerd when none answers) and the platform image
	bash deploy/compose/engine.sh
	bash deploy/compose/build.sh

test-docker: $(STAMP) image ## Model and migration tests against a container of the platform image
	HOTEL_TEST_BACKEND=docker $(VENV)/python -m pytest -q tests/models tests/migrations

test: $(STAMP) lint typecheck pytest ## Lint, type-check and run every test against real PostgreSQL

lint: $(STAMP) ## ruff lint and format check; import layers (lint-imports)
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/lint-imports

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(VENV)/ruff check --fix .
	$(VENV)/ruff format .

typecheck: $(STAMP) ## mypy over the packages
	$(VENV)/mypy

pytest: $(STAMP) image ## The test suite (starts its own PostgreSQL)
	$(VENV)/python -m pytest

backup-bench: $(STAMP) ## Full backup, verified restore and PITR times (needs `hotel up --ha`)
	$(VENV)/hotel backup bench

erd: $(STAMP) ## Regenerate docs/erd.md from the models
	$(VENV)/hotel erd

install: ## Install system packages (as root) and the virtualenv
	bash deploy/bootstrap.sh
	@touch $(STAMP)

$(STAMP): pyproject.toml deploy/bootstrap.sh
	bash deploy/bootstrap.sh
	@touch $(STAMP)

clean: ## Remove the virtualenv and caches (not the state directory)
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
