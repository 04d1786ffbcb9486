#!/usr/bin/env bash
# Make sure a Docker engine answers (CI, a fresh Debian machine as root): install docker.io
# (and debootstrap, for the base image where no registry answers) when missing, and start
# dockerd in the background, logging to /var/log/dockerd.log, when `docker info` fails.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  echo "no Docker engine answers: starting dockerd (log /var/log/dockerd.log)"
  setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done
  echo "dockerd did not answer within 60 s: see /var/log/dockerd.log" >&2
  exit 1
fi
