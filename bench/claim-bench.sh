#!/bin/bash
# Benchmark pool claims: claim + release cycles per second at 1 and 8 processes, through
# libdevpass against the fake kernel (tests/unit/fakekernel.c), so that the state database
# and the claim logic are measured rather than sysfs; and the same cycles done with a
# Proxmox-style reservation file (re-implemented), for the ratio.
#
#   bench/claim-bench.sh [--cycles N] [--runs N] [--dir DIR]
#
# --cycles N  claim cycles per setting, shared by the processes (default 2000)
# --runs N    repeat the whole benchmark N times (default 1)
# --dir DIR   where the fixture tree (and with it the state database) goes: default
#             /dev/shm when writable (memory, like sysfs), else /tmp
# Environment: DEVPASS_BUILD (build dir, default build/; claimstress is built with ninja
# when missing). See bench/README.md. Not a pass/fail test.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${DEVPASS_BUILD:-$top/build}
cycles=2000 runs=1 dir=
while [ $# -gt 0 ]; do
	case $1 in
		--cycles) cycles=${2:?--cycles needs a number}; shift ;;
		--runs) runs=${2:?--runs needs a number}; shift ;;
		--dir) dir=${2:?--dir needs a directory}; shift ;;
		-h|--help) sed -n '2,15p' "$0"; exit 0 ;;
		*) echo "usage: $0 [--cycles N] [--runs N] [--dir DIR]" >&2; exit 2 ;;
	esac
	shift
done
case $cycles$runs in *[!0-9]*|'') echo "--cycles and --runs take numbers" >&2; exit 2 ;; esac
if [ -z "$dir" ]; then
	dir=/tmp
	[ -d /dev/shm ] && [ -w /dev/shm ] && dir=/dev/shm
fi
if [ ! -x "$build/tests/stress/claimstress" ]; then
	[ -f "$build/build.ninja" ] || meson setup "$build" "$top" >/dev/null || exit 1
	ninja -C "$build" tests/stress/claimstress >/dev/null || exit 1
fi
fs=$(stat -f -c %T "$dir" 2>/dev/null)
echo "claim-bench: $(nproc) CPUs, Linux $(uname -r), fixture and database in $dir ($fs), $cycles cycles per setting"
out=$(mktemp "${TMPDIR:-/tmp}/claim-bench.XXXXXX")
trap 'rm -f "$out"' EXIT
rc=0
for run in $(seq 1 "$runs"); do
	[ "$runs" -gt 1 ] && echo "--- run $run of $runs"
	# claimstress's TAP lines are its own checks (double allocations, end state); the
	# figures are its bench: lines
	DEVPASS_FK_TMPDIR=$dir "$build/tests/stress/claimstress" --bench --bench-cycles "$cycles" >"$out" 2>&1 || rc=1
	grep -E '^(bench:|# claim cycles)' "$out"
	grep -E '^(not ok|#   )' "$out"
done
exit $rc
