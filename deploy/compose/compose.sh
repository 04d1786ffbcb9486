#!/usr/bin/env bash
# The compose stack's life cycle, for `make compose-up` / `make compose-down` and the tests.
#
#   compose.sh up     build the image, bring up every profile (seed, load, monitor, db_backup),
#                     print the endpoints; a missing env file is made from .env.example with
#                     random passwords (0600)
#   compose.sh down   stop and remove the containers (volumes kept; PURGE=1 removes them too)
#   compose.sh ARGS   any other docker compose command with the same files and profiles
#
# HOTEL_COMPOSE_ENV_FILE (default deploy/compose/.env) and COMPOSE_PROJECT_NAME (default hotel)
# pick the stack. Grafana's upstream image is left out, saying so, where it cannot be pulled.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export HOTEL_COMPOSE_ENV_FILE=${HOTEL_COMPOSE_ENV_FILE:-$here/.env}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-hotel}
env_file=$HOTEL_COMPOSE_ENV_FILE
GRAFANA=grafana/grafana:11.1.0

if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
profiles=(--profile seed --profile load --profile monitor --profile db_backup)
run() { "${compose[@]}" --project-directory "$here" -f "$here/docker-compose.yml" --env-file "$env_file" "${profiles[@]}" "$@"; }

make_env() {
  # Every empty value of .env.example gets a random one; nothing else changes.
  (umask 077 && while IFS= read -r line; do
    if [[ $line =~ ^([A-Z0-9_]+)=$ ]]; then
      echo "${BASH_REMATCH[1]}=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
    else
      echo "$line"
    fi
  done <"$here/.env.example" >"$env_file")
  echo "wrote $env_file: every empty value of .env.example filled with a random password"
}

value() { sed -n "s/^$1=//p" "$env_file" | tail -1; }
port() { local v=${!1:-$(value "$1")}; echo "${v:-$2}"; }

case ${1:-up} in
up)
  [[ -f $env_file ]] || make_env
  bash "$here/build.sh"
  services=$(run config --services | grep -vx grafana)
  if docker image inspect "$GRAFANA" >/dev/null 2>&1 || docker pull -q "$GRAFANA" >/dev/null 2>&1; then
    services+=$'\ngrafana'
  else
    echo "$GRAFANA cannot be pulled (no registry reachable): the stack comes up without Grafana"
  fi
  started=$(date +%s)
  # shellcheck disable=SC2086 # one service name per word
  run up -d --quiet-pull $services
  echo "up in $(($(date +%s) - started)) s (project $COMPOSE_PROJECT_NAME, env $env_file)"
  addr=$(port HOTEL_PUBLISH_ADDRESS 127.0.0.1)
  # The stack's CA certificate (volume tls), beside the env file: clients verify the servers.
  ca=$(dirname "$env_file")/ca.crt
  docker cp "$(run ps -q init)":/etc/hotel-tls/ca.crt "$ca"
  tls="sslmode=verify-full&sslrootcert=$ca"
  echo "primary    postgresql://USER:PASSWORD@$addr:$(port HOTEL_PRIMARY_PORT 5000)/hotel?$tls"
  echo "replicas   postgresql://USER:PASSWORD@$addr:$(port HOTEL_REPLICA_PORT 5001)/hotel?$tls"
  echo "CA         $ca (the superuser is refused over TCP: docker exec into a node for it)"
  echo "HAProxy    http://$addr:$(port HOTEL_STATS_PORT 7000)/"
  echo "Prometheus http://$addr:$(port HOTEL_PROMETHEUS_PORT 9090)/"
  echo "backups    http://$addr:$(port HOTEL_BACKUP_METRICS_PORT 9191)/metrics"
  if grep -qx grafana <<<"$services"; then echo "Grafana    http://$addr:$(port HOTEL_GRAFANA_PORT 3000)/"; fi
  ;;
down)
  if [[ ${PURGE:-0} == 1 ]]; then run down --volumes --remove-orphans; else run down --remove-orphans; fi
  ;;
*)
  run "$@"
  ;;
esac
