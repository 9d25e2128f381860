#!/usr/bin/env bash
# A throwaway PostgreSQL server in a directory, for the cluster tier and scripts/cluster.sh.
# Usage: scripts/cluster/pg.sh start DIR PORT   (prints the SQLAlchemy URL of database "airlock")
#        scripts/cluster/pg.sh stop DIR
# Uses initdb/pg_ctl from Debian's `postgresql` package. PostgreSQL refuses to run as root, so
# when run as root the cluster belongs to the `postgres` user (or `nobody` when it is missing).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg.sh: PostgreSQL is not installed (apt-get install postgresql, or scripts/install.sh --test)" >&2
  exit 1
fi
as=()
if [ "$(id -u)" = 0 ]; then
  user=postgres; id "$user" >/dev/null 2>&1 || user=nobody
  as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups --)
fi

case "$cmd" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    [ ${#as[@]} -gt 0 ] && chown "$user" "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      "${as[@]}" "$bin/initdb" -D "$dir/data" -U airlock --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # Enough connections for two replicas' pools, their listeners and the tests; no fsync
    # matters for a throwaway cluster, but the defaults are kept so benchmarks stay honest.
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
    "${as[@]}" "$bin/psql" -h "$dir" -p "$port" -U airlock -d postgres -qtAc \
      "SELECT 1 FROM pg_database WHERE datname='airlock'" | grep -q 1 \
      || "${as[@]}" "$bin/createdb" -h "$dir" -p "$port" -U airlock airlock
    echo "postgresql+psycopg://airlock@127.0.0.1:$port/airlock"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
