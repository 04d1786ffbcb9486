#!/usr/bin/env bash
# Make sure the base image `debian:bookworm-slim` exists: pull it, or, where no image registry
# is reachable, build an equivalent from the Debian mirror apt already uses (debootstrap
# minbase + docker import, about 40 s). Needs root and debootstrap for the fallback.
set -euo pipefail
BASE=debian:bookworm-slim
docker image inspect "$BASE" >/dev/null 2>&1 && exit 0
docker pull -q "$BASE" >/dev/null 2>&1 && exit 0

mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' 'Component: main' 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian/}
echo "$BASE cannot be pulled: building it from the Debian mirror $mirror (debootstrap)"
command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
dir=$(mktemp -d /var/tmp/bookworm-XXXXXX)
trap 'rm -rf "$dir"' EXIT
debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 \
  || { tail -20 "$dir.log" >&2; exit 1; }
rm -f "$dir.log"
# Like the official slim image: no apt lists, caches or docs.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* "$dir"/usr/share/man/*
tar -C "$dir" -c . | docker import -c 'CMD ["bash"]' - "$BASE" >/dev/null
