#!/bin/bash
# Benchmark pool claims: claim + release cycles per second at 1 and 8 processes, through
# libdevpass against the fake kernel (tests/unit/fakekernel.c), so that the state database
# and the claim logic are measured rather than sysfs; and the same cycles done with a
# Proxmox-style reservation file (re-implemented), for the ratio.
#
#   bench/claim-bench.sh [--cycles N] [--runs N]
#
# --cycles N  claim cycles per setting, shared by the processes (default 2000)
# --runs N    repeat the whole benchmark N times (default 1)
# Environment: DEVPASS_BUILD (build dir, default build/; built with ninja when the
# claimstress binary is missing). See bench/README.md. Not a pass/fail test.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${DEVPASS_BUILD:-$top/build}
cycles=2000 runs=1
while [ $# -gt 0 ]; do
	case $1 in
		--cycles) cycles=${2:?--cycles needs a number}; shift ;;
		--runs) runs=${2:?--runs needs a number}; shift ;;
		-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
		*) echo "usage: $0 [--cycles N] [--runs N]" >&2; exit 2 ;;
	esac
	shift
done
case $cycles$runs in *[!0-9]*) echo "--cycles and --runs take numbers" >&2; exit 2 ;; esac
if [ ! -x "$build/tests/stress/claimstress" ]; then
	[ -f "$build/build.ninja" ] || meson setup "$build" "$top" >/dev/null || exit 1
	ninja -C "$build" tests/stress/claimstress >/dev/null || exit 1
fi
echo "claim-bench: $(nproc) CPUs, $(uname -r), $cycles cycles per setting, $runs run(s)"
rc=0
for run in $(seq 1 "$runs"); do
	[ "$runs" -gt 1 ] && echo "--- run $run"
	# the TAP lines of claimstress are its own checks; the figures are the bench: lines
	"$build/tests/stress/claimstress" --bench --bench-cycles "$cycles" >"${TMPDIR:-/tmp}/claim-bench.$$" 2>&1 || rc=1
	grep -E '^(bench:|# claim cycles)' "${TMPDIR:-/tmp}/claim-bench.$$"
	grep -E '^not ok' "${TMPDIR:-/tmp}/claim-bench.$$"
	rm -f "${TMPDIR:-/tmp}/claim-bench.$$"
done
exit $rc
