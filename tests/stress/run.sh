#!/bin/bash
# The stress suite: 8 processes x 1000 claim cycles on one pool, then workers killed at
# random moments and recovered by `pool gc` (tests/stress/claimstress.c).
# DEVPASS_BUILD: the build directory (default build/).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${DEVPASS_BUILD:-$top/build}/tests/stress/claimstress
if [ ! -x "$bin" ]; then
	echo "not ok - stress: $bin is not built (make)"
	exit 1
fi
rc=0
"$bin" --procs 8 --cycles 1000 || rc=1
"$bin" --kill || rc=1
exit $rc
