#!/bin/sh
# Runs inside the guest (as part of PID 1, see guest-init.sh). Sets the guest up the way
# a host would be (drivers coldplugged, SR-IOV VFs enabled, a default route, one device on
# vfio-pci), prints `ok - ...` / `not ok - ...` lines for what can be judged in here, and
# sends raw outputs (lspci, sysfs facts, devpass JSON) over the second serial port
# (/dev/ttyS1) in @@BEGIN name@@ ... @@END name rc=N@@ blocks for check.py on the host.
#
# Usage: guest-tests.sh MODE   (MODE is "on" or "off": the intel_iommu= of this boot)
mode=${1:-unknown}
T="vm[iommu=$mode]"

. /tests/guest-lib.sh || exit 2   # only the harness guest has it

data_open "$mode"
check_root
setup_coldplug
check_usb
setup_sriov 2 1
setup_net

# ------------------------------------------------------------------ one device on vfio-pci
vfiodev=
if [ -n "$vfionet" ]; then
    vfiodev=$(basename "$(readlink -f "/sys/class/net/$vfionet/device")")
fi
if [ -n "$vfiodev" ]; then
    d=/sys/bus/pci/devices/$vfiodev
    echo vfio-pci >"$d/driver_override"
    echo "$vfiodev" >"$d/driver/unbind"
    echo "$vfiodev" >/sys/bus/pci/drivers_probe 2>/dev/null
    drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
    if [ "$mode" = on ]; then
        if [ "$drv" = vfio-pci ]; then
            ok "vfio: $vfiodev bound to vfio-pci"
        else
            nok "vfio: $vfiodev bound to vfio-pci" "driver is '${drv:-none}'"
        fi
    else
        note "vfio: $vfiodev driver after vfio-pci override with the IOMMU off: '${drv:-none}'"
    fi
else
    nok "vfio: e1000e with MAC $VFIO_MAC found" "no such interface"
fi
sleep 1

# ------------------------------------------------------------------ raw data for the host
sysfs_facts() {
    for d in /sys/bus/pci/devices/*; do
        a=${d##*/}
        g=$(basename "$(readlink "$d/iommu_group" 2>/dev/null)" 2>/dev/null)
        drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
        pf=$(basename "$(readlink "$d/physfn" 2>/dev/null)" 2>/dev/null)
        up=$(basename "$(dirname "$(readlink -f "$d")")")
        case $up in [0-9a-f][0-9a-f][0-9a-f][0-9a-f]:*) ;; *) up= ;; esac
        ov=$(cat "$d/driver_override" 2>/dev/null); [ "$ov" = "(null)" ] && ov=
        rm=$(cat "$d/reset_method" 2>/dev/null | tr ' ' ,)
        echo "$a group=${g:--} driver=${drv:--} physfn=${pf:--} parent=${up:--} numa=$(cat "$d/numa_node" 2>/dev/null || echo -) class=$(cat "$d/class") modalias=$(cat "$d/modalias" 2>/dev/null || echo -) override=${ov:--} reset=${rm:--} path=$(readlink -f "$d") totalvfs=$(cat "$d/sriov_totalvfs" 2>/dev/null || echo -) numvfs=$(cat "$d/sriov_numvfs" 2>/dev/null || echo -) boot_vga=$(cat "$d/boot_vga" 2>/dev/null || echo -)"
    done
}
vfio_nodes() { ls -1 /dev/vfio 2>/dev/null; }
group_members() {
    for g in /sys/kernel/iommu_groups/*; do
        [ -d "$g" ] || continue
        echo "${g##*/} $(ls "$g/devices" | tr '\n' ' ')"
    done
}
net_facts() { ip route; for n in /sys/class/net/*; do echo "${n##*/} $(readlink -f "$n/device")"; done; }

emit lspci lspci -D -nnk -vmm
emit lspci-names lspci -D -k -vmm
emit lspci-short lspci -D
emit lspci-tree lspci -tv
emit lspci-vvv lspci -D -vvv
emit sysfs sysfs_facts
emit iommu-groups group_members
emit dev-vfio vfio_nodes
emit mountinfo cat /proc/self/mountinfo
emit net net_facts
emit cmdline cat /proc/cmdline
emit cpuinfo sh -c 'grep -m1 "^vendor_id" /proc/cpuinfo; grep -m1 "^flags" /proc/cpuinfo'
emit acpi-tables ls /sys/firmware/acpi/tables
emit nvme-sriov cat /tmp/nvme-sriov.log
emit dmesg-iommu sh -c 'dmesg | grep -iE "dmar|iommu|vfio|nvme" | tail -n 60'

if [ -x /usr/bin/devpass ] || command -v devpass >/dev/null 2>&1; then
    ok "devpass: binary present in the guest"
    emit devpass-list-json devpass list --json
    emit devpass-groups-json devpass groups --json
    emit devpass-check devpass check
    emit devpass-check-json devpass check --json
    emit devpass-list devpass list
    # human-readable forms, kept for the README's examples
    emit devpass-tree devpass list --tree
    emit devpass-groups devpass groups
    emit devpass-show-nvme devpass show 0000:02:00.0
    emit devpass-list-class devpass list --class net
    for a in 0000:00:02.0 0000:00:03.0 0000:00:05.0 0000:00:08.0 0000:02:00.0 0000:02:00.1 \
        0000:04:00.0 0000:05:01.0; do
        emit "devpass-show-json-$a" devpass show --json "$a"
    done
    emit devpass-show-short devpass show 02:00.1
    emit devpass-show-missing devpass show --json 0000:7f:1f.7
else
    nok "devpass: binary present in the guest" "build/devpass was not built when the image was made"
fi
data_close
exit 0
