#!/usr/bin/env bash
# Build the platform image (hotel-platform:${HOTEL_IMAGE_TAG:-latest}) with BuildKit, from the
# repository root, and print its size and build time. The base image is pulled or, where no
# registry answers, built from the Debian mirror (base-image.sh). pip's CA: the host pip's
# `cert` setting, or HOTEL_PIP_CA=<file>, is handed to the build as the secret `pip_ca`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tag=hotel-platform:${HOTEL_IMAGE_TAG:-latest}

# A docker CLI that builds with BuildKit: one with buildx, else Debian's 20.10 with
# DOCKER_BUILDKIT=1 (a CLI without buildx refuses DOCKER_BUILDKIT=1).
docker=docker
if ! docker buildx version >/dev/null 2>&1; then
  if [[ -x /usr/bin/docker ]]; then docker=/usr/bin/docker; fi
fi
export DOCKER_BUILDKIT=1

bash "$here/base-image.sh"

ca=${HOTEL_PIP_CA:-${PIP_CERT:-}}
if [[ -z $ca ]] && command -v python3 >/dev/null; then
  ca=$(python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.cert='\(.*\)'$/\1/p" | tail -1)
fi
secret=()
if [[ -n $ca && -s $ca ]]; then secret=(--secret "id=pip_ca,src=$ca"); fi

started=$(date +%s)
"$docker" build -q -f "$here/Dockerfile" -t "$tag" "${secret[@]}" "$root" >/dev/null
took=$(($(date +%s) - started))
size=$("$docker" image inspect -f '{{.Size}}' "$tag")
echo "built $tag: $((size / 1000000)) MB in ${took} s"
