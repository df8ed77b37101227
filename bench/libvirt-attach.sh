#!/bin/bash
# Time from command to defined domain of `devpass libvirt attach` next to `virsh
# attach-device --config` of the same elements, on an unprivileged session libvirtd this
# script starts (no KVM, no root libvirtd needed; as root the daemon runs as nobody).
#
#   bench/libvirt-attach.sh [--runs N]     (default 10; prints medians in ms and the ratio)
#
# Environment: DEVPASS (the command, default build/devpass). See bench/README.md.
# Not a pass/fail test.
set -u
here=$(cd "$(dirname "$0")" && pwd)
case ${1:-} in -h|--help) sed -n '2,9p' "$0"; exit 0 ;; esac
[ -x /usr/sbin/libvirtd ] || { echo "libvirt-attach: /usr/sbin/libvirtd is not installed" >&2; exit 1; }
exec /usr/bin/python3 "$here/libvirt_attach.py" "$@"
