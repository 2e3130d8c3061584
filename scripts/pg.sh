#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1, for tests and the burst benchmark.
#
#   scripts/pg.sh start DATADIR [PORT]   initdb when DATADIR is empty, start, print the URL
#   scripts/pg.sh url DATADIR            print the URL of a started cluster
#   scripts/pg.sh stop DATADIR           stop it (fast shutdown); the data stays until you rm it
#
# PostgreSQL refuses to run as root: as root the cluster belongs to $PG_USER (default postgres,
# created as a system user when missing) and every server command runs through runuser. Trust
# authentication on loopback only, fsync off: it is a scratch database, never a real one.
set -euo pipefail

usage() { echo "usage: $0 start DATADIR [PORT] | url DATADIR | stop DATADIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
data=$2
port=${3:-}
pg_user=${PG_USER:-postgres}

find_bindir() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  echo "error: PostgreSQL server binaries not found (initdb); install Debian's postgresql package (scripts/ci-deps.sh)" >&2
  exit 1
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$pg_user" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

print_url() {
  local p
  p=$(cat "$data/sopgraph-port" 2>/dev/null || true)
  [ -n "$p" ] || { echo "error: $data is not a cluster started by $0" >&2; exit 1; }
  echo "postgresql://postgres@127.0.0.1:$p/postgres"
}

case "$cmd" in
  start)
    bindir=$(find_bindir)
    if [ "$(id -u)" -eq 0 ] && ! id "$pg_user" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
    fi
    mkdir -p "$data"
    if [ "$(id -u)" -eq 0 ]; then
      chown "$pg_user" "$data"
      chmod 700 "$data"
      if ! runuser -u "$pg_user" -- test -w "$data"; then
        echo "error: user $pg_user cannot write $data (a parent directory is not traversable); use a directory under /tmp" >&2
        exit 1
      fi
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale --no-instructions --no-sync >"$data.initdb.log" 2>&1 || {
        echo "error: initdb failed, see $data.initdb.log" >&2; exit 1; }
      rm -f "$data.initdb.log"
    fi
    if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      print_url
      exit 0
    fi
    [ -n "$port" ] || port=$(free_port)
    {
      echo "# written by scripts/pg.sh"
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $port"
      echo "unix_socket_directories = '$data'"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
      echo "max_connections = 200"
    } | as_owner tee "$data/sopgraph.conf" >/dev/null
    grep -q "^include_if_exists = 'sopgraph.conf'" "$data/postgresql.conf" ||
      echo "include_if_exists = 'sopgraph.conf'" | as_owner tee -a "$data/postgresql.conf" >/dev/null
    echo "$port" | as_owner tee "$data/sopgraph-port" >/dev/null
    as_owner "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null || {
      echo "error: PostgreSQL did not start, see $data/server.log:" >&2; tail -n 20 "$data/server.log" >&2; exit 1; }
    print_url
    ;;
  url)
    print_url
    ;;
  stop)
    bindir=$(find_bindir)
    if [ -f "$data/postmaster.pid" ]; then
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
  *)
    usage
    ;;
esac
