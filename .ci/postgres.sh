# Start and stop a throwaway PostgreSQL server for the tests' PostgreSQL pass. Source it, then
# `start_postgres` (exports CSV_MANAGER_TEST_POSTGRES_URL) and `stop_postgres`. Needs root and Debian's
# postgresql package: the cluster is made with initdb as the postgres user in a temporary folder and listens
# on 127.0.0.1 only, on a free port.

start_postgres() {
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$PG_BIN" ]; then
        echo "PostgreSQL server binaries not found: apt-get install postgresql" >&2
        return 1
    fi
    PG_DIR=$(mktemp -d /tmp/csv_manager_pg.XXXXXX)
    PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    chown postgres: "$PG_DIR"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync >"$PG_DIR/initdb.log"
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off" start >/dev/null || true
    # pg_ctl's exit code is not trusted (it can report a failed start of a running server): ask the server.
    for _ in $(seq 1 120); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
        sleep 0.5
    done
    if ! "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT"; then
        cat "$PG_DIR/server.log" >&2
        return 1
    fi
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres csv_manager_test
    export CSV_MANAGER_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/csv_manager_test"
    echo "PostgreSQL test server: $CSV_MANAGER_TEST_POSTGRES_URL"
}

stop_postgres() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" stop -m fast >/dev/null || true
        rm -rf "$PG_DIR"
    fi
}
