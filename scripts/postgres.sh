#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the relay's tests, from Debian's `postgresql` package
# (scripts/bootstrap.sh installs it as root):
#   postgres.sh start   initdb + start (idempotent: a running cluster is kept)
#   postgres.sh url     print the superuser's URL, postgresql+psycopg://relay:...@127.0.0.1:PORT/postgres
#   postgres.sh stop    stop the server (immediate) and delete the cluster
# The cluster lives in $CLAWDEPLOY_PG_DIR (default: one directory per checkout under
# $TMPDIR or /tmp), listens on 127.0.0.1 on a free port and on a unix socket in that
# directory, and takes scram-sha-256 password auth only. The password is generated at each
# start and kept, with the URL, in 0600 files there; this script prints it only with `url`.
# PostgreSQL refuses to run as root: as root, the server runs as the package's `postgres`
# user (runuser). Durability is off (fsync, synchronous_commit): the data is thrown away.
set -euo pipefail
umask 077 # every file of the cluster is private: it holds the password
repo=$(cd "$(dirname "$0")/.." && pwd)
base=${CLAWDEPLOY_PG_DIR:-${TMPDIR:-/tmp}/clawdeploy-relay-pg-$(printf %s "$repo" | sha256sum | cut -c1-12)}
data="$base/data"

die() { printf 'postgres.sh: %s\n' "$*" >&2; exit 1; }
log() { printf 'postgres.sh: %s\n' "$*" >&2; }

bindir() {
    local dir
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
        sort -V | tail -n 1)
    if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
        die "no /usr/lib/postgresql/<version>/bin/initdb: install Debian's postgresql package (scripts/bootstrap.sh does, as root)"
    fi
    echo "$dir"
}

# Run a server command as the cluster's owner: `postgres` when we are root.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        getent passwd postgres >/dev/null ||
            die "no 'postgres' user (Debian's postgresql package creates it); the server cannot run as root"
        (cd "$base" && runuser -u postgres -- "$@")
    else
        (cd "$base" && "$@")
    fi
}

# Hand a path to the cluster's owner (as root: the postgres user; else it is ours already).
own() {
    if [ "$(id -u)" = 0 ]; then
        getent passwd postgres >/dev/null ||
            die "no 'postgres' user (Debian's postgresql package creates it); the server cannot run as root"
        chown -R postgres: "$@"
    fi
}

# Delete the cluster directory, but only one this script made (it holds `password`) or an
# empty one: CLAWDEPLOY_PG_DIR could name anything.
forget() {
    [ -d "$base" ] || return 0
    if [ -e "$base/password" ] || [ -z "$(ls -A "$base")" ]; then
        rm -rf "$base"
    else
        die "$base is not a cluster made by this script; not deleting it"
    fi
}

running() { [ -f "$data/postmaster.pid" ] && as_owner "$(bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bin port password attempt
    if running; then
        log "already running ($data)"
        return 0
    fi
    bin=$(bindir)
    forget
    mkdir -p "$base/run"
    password=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
    printf '%s\n' "$password" >"$base/password"
    own "$base"
    as_owner "$bin/initdb" -D "$data" -U relay --pwfile="$base/password" --auth=scram-sha-256 \
        -E UTF8 --locale=C --no-sync --no-instructions >"$base/initdb.log" 2>&1 ||
        { cat "$base/initdb.log" >&2; die "initdb failed"; }
    for attempt in 1 2 3; do
        port=$(free_port)
        cat >"$base/data/postgresql.auto.conf" <<END
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$base/run'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
END
        own "$base/data/postgresql.auto.conf"
        if as_owner "$bin/pg_ctl" -D "$data" -l "$base/server.log" -w -t 30 start >/dev/null; then
            printf 'postgresql+psycopg://relay:%s@127.0.0.1:%s/postgres\n' \
                "$password" "$port" >"$base/url"
            log "running on 127.0.0.1:$port and $base/run ($("$bin/postgres" --version))"
            return 0
        fi
        log "start on port $port failed (attempt $attempt); see $base/server.log"
    done
    die "PostgreSQL did not start; $base/server.log says why"
}

stop() {
    if running; then
        as_owner "$(bindir)/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
    fi
    forget
}

url() {
    running || die "not running; run scripts/postgres.sh start first"
    cat "$base/url"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url) url ;;
*) die "usage: postgres.sh start|stop|url" ;;
esac
