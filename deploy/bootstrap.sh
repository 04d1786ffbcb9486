#!/usr/bin/env bash
# Installs what the platform and its tests need on Debian: system packages (as root, only
# the missing ones) and the Python virtualenv with the project in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  postgresql-15 postgresql-contrib         # the embedded server and pgbench
  etcd-server etcd-client haproxy          # the HA stack as local processes
  prometheus prometheus-postgres-exporter  # monitoring (promtool for rule tests)
  pgbackrest docker-compose                # backups; offline compose validation
  chromium                                 # headless check that the load report renders
)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ! python3 -m venv --help >/dev/null 2>&1; then missing+=(python3-venv); fi

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing system packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev,cluster]'
