#!/bin/bash
# Benchmark binding SR-IOV VFs to vfio-pci and back, in the real-kernel VM (tests/vm),
# three ways: devpass, a bare shell loop of sysfs writes, driverctl.
#
#   bench/bind-bench.sh [--runs N] [--each] [--data FILE]
#
# --runs N     timed runs (default 5), after one warm-up run
# --each       also time one devpass process per VF (adds ~30 s per run)
# --data FILE  print the figures of an earlier run's data.log without booting
# Environment: DEVPASS_BUILD (build dir, default build/), DEVPASS_VM_* as for tests/vm/run.sh.
# See bench/README.md. Not a pass/fail test.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
runs=5 each=0 data=
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift ;;
        --each) each=1 ;;
        --data) data=$2; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--runs N] [--each] [--data FILE]" >&2; exit 2 ;;
    esac
    shift
done
case $runs in ''|*[!0-9]*) echo "--runs needs a number" >&2; exit 2 ;; esac
if [ -z "$data" ]; then
    if [ ! -x "${DEVPASS_BUILD:-$top/build}/devpass" ]; then
        echo "bind-bench: build devpass first (make)" >&2
        exit 1
    fi
    append="devpass_bench_runs=$runs"
    [ "$each" = 1 ] && append="$append devpass_bench_each=1"
    # a warm-up and N runs; driverctl alone takes ~25 s a run in the TCG guest
    per_run=40; [ "$each" = 1 ] && per_run=75
    DEVPASS_VM_APPEND="$append ${DEVPASS_VM_APPEND:-}" \
        DEVPASS_VM_TIMEOUT=${DEVPASS_VM_TIMEOUT:-$((180 + (runs + 1) * per_run))} \
        "$top/tests/vm/run.sh" bench
    data=${DEVPASS_VM_CACHE:-$top/tests/vm/.cache}/logs/bench/data.log
fi
exec python3 "$here/bind_bench.py" "$data"
