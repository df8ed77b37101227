#!/bin/bash
# The stress suite (tests/stress/claimstress.c): 8 processes x 1000 claim cycles on one
# pool; then workers SIGKILLed at random moments, recovered by `pool gc`, by the next
# claim, and with gc running all along.
# DEVPASS_BUILD: the build directory (default build/). The fixture trees go to /dev/shm
# when it is writable (memory, as sysfs), else /tmp; DEVPASS_FK_TMPDIR overrides.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${DEVPASS_BUILD:-$top/build}/tests/stress/claimstress
if [ ! -x "$bin" ]; then
	echo "not ok - stress: $bin is not built (make)"
	exit 1
fi
if [ -z "${DEVPASS_FK_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export DEVPASS_FK_TMPDIR=/dev/shm
fi
rc=0
"$bin" --procs 8 --cycles 1000 || rc=1
"$bin" --kill || rc=1
exit $rc
