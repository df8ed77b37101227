#!/bin/bash
# Benchmark `devpass vm start` (to a running QEMU) and `devpass vm stop` (to the devices
# back on their drivers) with 1 and 4 passed devices, against the same QEMU command line
# (`devpass vm start --dry-run`) run by hand on devices bound by a bare sysfs loop
# (driver_override + unbind + drivers_probe, and back), in the real-kernel VM (tests/vm,
# boot vmbench: KVM inside the TCG guest through -cpu max, nested guests on KVM).
#
#   bench/vm-bench.sh [--runs N] [--data FILE]
#
# --runs N     timed runs per method and device count (default 5), after one warm-up run
# --data FILE  print the figures of an earlier run's data.log without booting
# Target (issue 11): devpass adds at most 10% or 100 ms, whichever is larger, to start and
# to stop. Environment: DEVPASS_BUILD, DEVPASS_VM_* as for tests/vm/run.sh. Not a pass/fail
# test; see bench/README.md.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
runs=5 data=
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift ;;
        --data) data=$2; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--runs N] [--data FILE]" >&2; exit 2 ;;
    esac
    shift
done
case $runs in ''|*[!0-9]*) echo "--runs needs a number" >&2; exit 2 ;; esac
if [ -z "$data" ]; then
    if [ ! -x "${DEVPASS_BUILD:-$top/build}/devpass" ]; then
        echo "vm-bench: build devpass first (make)" >&2
        exit 1
    fi
    # each run boots 4 nested guests (devpass and hand, 1 and 4 devices): ~30 s each on an idle
    # 2-core machine (start ~7 s, ready ~20 s, stop ~1 s), twice that under load
    DEVPASS_VM_APPEND="devpass_vmbench_runs=$runs ${DEVPASS_VM_APPEND:-}" \
        DEVPASS_VM_TIMEOUT_VM=${DEVPASS_VM_TIMEOUT_VM:-$((240 + (runs + 1) * 4 * 90))} \
        "$top/tests/vm/run.sh" vmbench
    data=${DEVPASS_VM_CACHE:-$top/tests/vm/.cache}/logs/vmbench/data.log
fi
exec python3 "$here/vm_bench.py" "$data"
