#!/bin/bash
# Benchmark mdev create + remove cycles per second: through `devpass mdev create/remove`
# versus bare sysfs writes (echo UUID > .../TYPE/create; echo 1 > .../UUID/remove), printed
# with the ratio. It needs a real mdev parent (the mtty sample module), so it runs in the
# VM tier's harness guest only: it refuses without devpass_vm= on the kernel command line,
# and when the parent is missing. It never runs on a development host (it writes to /sys).
#
#   bench/mdev-bench.sh [--cycles N] [--parent NAME] [--type TYPE]
#
# --cycles N     create+remove cycles per method (default 200)
# --parent NAME  /sys/class/mdev_bus name (default mtty); --type TYPE (default mtty-1)
# Then bench/mdev-cycles (build/bench, or beside this script in the guest) does the same
# inside one process, libdevpass's API against bare writes: the command's cycle is mostly
# two process starts, and that half shows what the library itself adds.
# Environment: DEVPASS (the devpass binary, default build/devpass), DEVPASS_MDEV_CYCLES (the
# mdev-cycles binary). Not a pass/fail test.
set -u
here=$(cd "$(dirname "$0")" && pwd)
devpass=${DEVPASS:-$here/../build/devpass}
cycles=200 parent=mtty type=mtty-1
while [ $# -gt 0 ]; do
	case $1 in
		--cycles) cycles=${2:?--cycles needs a number}; shift ;;
		--parent) parent=${2:?--parent needs a name}; shift ;;
		--type) type=${2:?--type needs a name}; shift ;;
		-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
		*) echo "usage: $0 [--cycles N] [--parent NAME] [--type TYPE]" >&2; exit 2 ;;
	esac
	shift
done
case $cycles in *[!0-9]*|'') echo "--cycles takes a number" >&2; exit 2 ;; esac
case " $(cat /proc/cmdline 2>/dev/null) " in
	*" devpass_vm="*) ;;
	*)
	echo "mdev-bench: refusing to run outside the VM tier's harness guest (no devpass_vm= on" \
	     "the kernel command line): it writes to /sys" >&2
	exit 1 ;;
esac
tdir=/sys/class/mdev_bus/$parent/mdev_supported_types/$type
if [ ! -e "$tdir/create" ]; then
	echo "mdev-bench: no mdev parent $parent with type $type (load mdev, vfio_iommu_type1" \
	     "and the mtty sample module first)" >&2
	exit 1
fi
now() { date +%s.%N; }
new_uuid() { cat /proc/sys/kernel/random/uuid; }

bare() {
	local i u
	for ((i = 0; i < cycles; i++)); do
		u=$(new_uuid)
		echo "$u" > "$tdir/create" || return 1
		echo 1 > "/sys/bus/mdev/devices/$u/remove" || return 1
	done
}

through_devpass() {
	local i u
	for ((i = 0; i < cycles; i++)); do
		u=$("$devpass" mdev create "$parent" "$type") || return 1
		"$devpass" mdev remove "$u" >/dev/null || return 1
	done
}

rate() {   # name function
	local t0 t1
	t0=$(now)
	"$2" || { echo "mdev-bench: $1 failed" >&2; exit 1; }
	t1=$(now)
	awk -v n="$cycles" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", n / (b - a) }'
}

bare_rate=$(rate "bare sysfs writes" bare)
devpass_rate=$(rate "devpass mdev create/remove" through_devpass)
printf 'parent %s type %s, %d cycles each\n' "$parent" "$type" "$cycles"
printf '  bare sysfs writes:          %8s cycles/s\n' "$bare_rate"
printf '  devpass mdev create/remove: %8s cycles/s\n' "$devpass_rate"
awk -v a="$bare_rate" -v b="$devpass_rate" 'BEGIN { printf "  ratio (bare / devpass):     %8.1fx\n", a / b }'
# The command's cycle is two process starts; the library's share alone, in one process:
cycles_bin=${DEVPASS_MDEV_CYCLES:-}
for c in "$cycles_bin" "$here/mdev-cycles" "$here/../build/bench/mdev-cycles"; do
	[ -n "$c" ] && [ -x "$c" ] && { "$c" "$parent" "$type" "$cycles" || exit 1; break; }
done
