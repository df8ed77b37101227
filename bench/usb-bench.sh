#!/bin/bash
# devpass usb list --json against plain lsusb (not lsusb -v: that reads every descriptor
# through usbfs, which devpass never does) on the USB devices of the host it runs on.
#
#   bench/usb-bench.sh [--runs N]          (DEVPASS=/path/to/devpass to pick the binary)
#
# Prints the median wall time of each over N interleaved runs (default 21, after one
# warm-up each) and the ratio lsusb/devpass (above 1: devpass is faster). Not a pass/fail
# test. On a host without USB (no /sys/bus/usb/devices entries) it says so and exits 0.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
devpass=${DEVPASS:-$top/build/devpass}
runs=21
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	*) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
	esac
done
[ -x "$devpass" ] || { echo "usb-bench: $devpass is missing: build first (ninja -C build)" >&2; exit 1; }
command -v lsusb >/dev/null || { echo "usb-bench: lsusb is missing (Debian package usbutils)" >&2; exit 1; }
n=$(ls /sys/bus/usb/devices 2>/dev/null | grep -c -v ':')
if [ "$n" -eq 0 ]; then
	echo "usb-bench: this host has no USB devices (no /sys/bus/usb/devices entries): nothing to time"
	exit 0
fi

# One run's wall time in microseconds; the output is thrown away, the exit status kept.
time_us() {
	local start end
	start=$(date +%s%N)
	"$@" >/dev/null 2>&1 || { echo "usb-bench: '$*' failed" >&2; exit 1; }
	end=$(date +%s%N)
	echo $(( (end - start) / 1000 ))
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

listed=$("$devpass" usb list --all --json | grep -c '"location"')
echo "# $n USB devices in /sys/bus/usb/devices (devpass lists $listed with --all); lsusb: $(lsusb | wc -l) lines"
time_us "$devpass" usb list --json >/dev/null
time_us lsusb >/dev/null
d=(); l=()
for _ in $(seq "$runs"); do
	d+=("$(time_us "$devpass" usb list --json)")
	l+=("$(time_us lsusb)")
done
dm=$(printf '%s\n' "${d[@]}" | median)
lm=$(printf '%s\n' "${l[@]}" | median)
awk -v d="$dm" -v l="$lm" -v runs="$runs" 'BEGIN {
	printf "devpass usb list --json  median %8.2f ms  (%d runs)\n", d / 1000, runs
	printf "lsusb                    median %8.2f ms\n", l / 1000
	printf "ratio lsusb/devpass      %.2f  (above 1: devpass is faster)\n", l / (d > 0 ? d : 1)
}'
