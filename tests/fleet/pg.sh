#!/bin/bash
# A throw-away PostgreSQL 15 server for the fleet tests and benchmarks: initdb and pg_ctl
# from Debian's postgresql-15, run as an unprivileged user (initdb refuses root; as root the
# server runs as `nobody`), listening on a unix socket in DIR only (no TCP), trust auth.
#
#   tests/fleet/pg.sh start DIR [--fsync]   creates DIR, starts; prints the libpq conninfo
#   tests/fleet/pg.sh restart DIR           pg_ctl restart -m fast (a database restart mid-run)
#   tests/fleet/pg.sh stop DIR              stops and removes DIR
#   tests/fleet/pg.sh conninfo DIR          the conninfo again
#
# fsync is off unless --fsync (the functional tests do not need durability; the benchmark
# measures with it on, as a real server runs).
set -eu
bin=/usr/lib/postgresql/15/bin
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|restart|stop|conninfo DIR [--fsync]" >&2; exit 2; }
[ -x "$bin/pg_ctl" ] || { echo "$0: $bin/pg_ctl missing: apt-get install postgresql-15" >&2; exit 1; }

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

conninfo() { echo "host=$dir/sock dbname=devpass user=devpass"; }

case "$cmd" in
start)
	fsync=off
	[ "${3:-}" = "--fsync" ] && fsync=on
	mkdir -p "$dir/sock"
	chmod 0755 "$dir"
	[ "$(id -u)" = 0 ] && chown -R nobody: "$dir"
	as_owner "$bin/initdb" -D "$dir/data" -U devpass -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
		{ echo "$0: initdb failed:" >&2; tail -n 5 "$dir/initdb.log" >&2; exit 1; }
	cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/sock'
max_connections = 300
fsync = $fsync
synchronous_commit = on
shared_buffers = 128MB
log_min_messages = warning
CONF
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null ||
		{ echo "$0: the server did not start:" >&2; tail -n 5 "$dir/server.log" >&2; exit 1; }
	as_owner "$bin/createdb" -h "$dir/sock" -U devpass devpass
	conninfo
	;;
restart)
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -m fast restart >/dev/null
	;;
stop)
	[ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 30 -m fast stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
conninfo) conninfo ;;
*) echo "usage: $0 start|restart|stop|conninfo DIR [--fsync]" >&2; exit 2 ;;
esac
