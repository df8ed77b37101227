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
DATA=/dev/ttyS1
NET_MAC=52:54:00:12:34:56      # e1000e on user networking: gets the default route
VFIO_MAC=52:54:00:12:34:57     # e1000e behind a root port: handed to vfio-pci

ok() { echo "ok - $T $*"; }
nok() { echo "not ok - $T $1: $2"; }
note() { echo "# $T $*"; }

# emit NAME CMD...: run CMD, send its stdout (and stderr, rc) to the host as a block
emit() {
    name=$1; shift
    "$@" >/tmp/emit.out 2>/tmp/emit.err
    rc=$?
    {
        echo "@@BEGIN $name@@"
        cat /tmp/emit.out
        echo "@@END $name rc=$rc@@"
        echo "@@BEGIN $name.stderr@@"
        cat /tmp/emit.err
        echo "@@END $name.stderr rc=0@@"
    } >"$DATA"
    return $rc
}

stty -F "$DATA" raw -echo 2>/dev/null
echo "@@BEGIN mode@@" >"$DATA"; echo "$mode" >"$DATA"; echo "@@END mode rc=0@@" >"$DATA"

# ------------------------------------------------------------------ boot basics
rootsrc=$(awk '$5 == "/" {for (i = 7; i <= NF; i++) if ($i == "-") {print $(i + 2); exit}}' /proc/self/mountinfo)
if [ "$rootsrc" = /dev/vda ]; then
    ok "boot: / is /dev/vda (virtio-blk) in /proc/self/mountinfo"
else
    nok "boot: / is /dev/vda" "mountinfo says '$rootsrc'"
fi
note "kernel $(uname -r), cmdline: $(cat /proc/cmdline)"

# ------------------------------------------------------------------ drivers (coldplug)
for f in /sys/bus/pci/devices/*/modalias; do
    modprobe -q "$(cat "$f")" 2>/dev/null
done
if modprobe vfio && modprobe vfio_iommu_type1 && modprobe vfio-pci; then
    ok "modules: vfio, vfio_iommu_type1, vfio-pci loaded"
else
    nok "modules: vfio, vfio_iommu_type1, vfio-pci loaded" "modprobe failed"
fi
sleep 1

# ------------------------------------------------------------------ USB behind qemu-xhci
usbdev=
i=0
while [ $i -lt 50 ]; do
    for u in /sys/bus/usb/devices/*; do
        [ "$(cat "$u/idVendor" 2>/dev/null):$(cat "$u/idProduct" 2>/dev/null)" = 0627:0001 ] && usbdev=$u
    done
    [ -n "$usbdev" ] && break
    sleep 0.2; i=$((i + 1))
done
if [ -n "$usbdev" ]; then
    ok "usb: usb-kbd enumerated behind $(basename "$(readlink -f "$usbdev/../..")" 2>/dev/null) (qemu-xhci)"
else
    nok "usb: usb-kbd enumerated behind qemu-xhci" "no USB device 0627:0001 in /sys/bus/usb/devices"
fi

# ------------------------------------------------------------------ SR-IOV (nvme)
pf=
for d in /sys/bus/pci/devices/*; do
    [ -r "$d/sriov_totalvfs" ] || continue
    [ "$(cat "$d/sriov_totalvfs")" -gt 0 ] 2>/dev/null || continue
    [ "$(cat "$d/class")" = 0x010802 ] && pf=$d && break
done
if [ -z "$pf" ]; then
    nok "sr-iov: nvme PF with sriov_totalvfs > 0" "none found"
else
    pfa=${pf##*/}
    total=$(cat "$pf/sriov_totalvfs")
    want=2; [ "$total" -lt 2 ] && want=$total
    drv=$(basename "$(readlink "$pf/driver" 2>/dev/null)" 2>/dev/null)
    note "sr-iov PF $pfa driver=${drv:-none} totalvfs=$total"
    nvmedev=
    for c in /sys/class/nvme/nvme*; do
        [ "$(readlink -f "$c/device")" = "$(readlink -f "$pf")" ] && nvmedev=/dev/${c##*/}
    done
    # VFs are created without a driver; nvme-cli then brings QEMU's secondary controllers
    # online (they start offline and cannot be enabled before that), and only then the
    # nvme driver is bound to them.
    echo 0 >"$pf/sriov_drivers_autoprobe"
    vfs=
    if echo "$want" >"$pf/sriov_numvfs" 2>/tmp/sriov.err; then
        n=0
        for l in "$pf"/virtfn*; do
            [ -e "$l" ] || continue
            n=$((n + 1)); vfs="$vfs $(basename "$(readlink "$l")")"
        done
        if [ "$n" = "$want" ]; then
            ok "sr-iov: sriov_numvfs=$want on $pfa created $n VFs:$vfs"
        else
            nok "sr-iov: sriov_numvfs=$want on $pfa" "found $n virtfn links"
        fi
        for v in $vfs; do
            d=/sys/bus/pci/devices/$v
            if [ "$(basename "$(readlink -f "$d/physfn")")" = "$pfa" ]; then
                ok "sr-iov: $v has physfn -> $pfa"
            else
                nok "sr-iov: $v has physfn -> $pfa" "physfn is '$(readlink "$d/physfn")'"
            fi
        done
    else
        nok "sr-iov: write sriov_numvfs=$want on $pfa" "$(cat /tmp/sriov.err)"
    fi
    if [ -n "$vfs" ] && command -v nvme >/dev/null 2>&1 && [ -n "$nvmedev" ]; then
        nvme list-secondary "$nvmedev" >/tmp/nvme-sec.txt 2>&1
        scids=$(awk -F: '/SCID/ {gsub(/[ \t]/, "", $NF); print $NF}' /tmp/nvme-sec.txt)
        nvmeok=1
        for sc in $scids; do
            sc=$((sc))
            { nvme virt-mgmt "$nvmedev" -c "$sc" -r 1 -a 8 -n 1 &&
              nvme virt-mgmt "$nvmedev" -c "$sc" -r 0 -a 8 -n 2 &&
              nvme virt-mgmt "$nvmedev" -c "$sc" -r 0 -a 9 -n 0; } >>/tmp/nvme-virt.txt 2>&1 || nvmeok=0
        done
        [ -n "$scids" ] || nvmeok=0
        for v in $vfs; do
            echo nvme >"/sys/bus/pci/devices/$v/driver_override"
            echo "$v" >/sys/bus/pci/drivers_probe
        done
        bound=0
        for v in $vfs; do
            i=0
            while [ $i -lt 100 ]; do
                live=
                for c in /sys/class/nvme/nvme*; do
                    [ "$(basename "$(readlink -f "$c/device")")" = "$v" ] &&
                        [ "$(cat "$c/state" 2>/dev/null)" = live ] && live=${c##*/}
                done
                [ -n "$live" ] && break
                sleep 0.2; i=$((i + 1))
            done
            if [ -n "$live" ]; then
                ok "sr-iov: VF $v online and driven by nvme ($live)"; bound=$((bound + 1))
            else
                nok "sr-iov: VF $v online and driven by nvme" "driver=$(basename "$(readlink "/sys/bus/pci/devices/$v/driver")" 2>/dev/null) virt-mgmt ok=$nvmeok: $(tr '\n' ' ' </tmp/nvme-virt.txt | cut -c1-300)"
            fi
        done
        { echo "== list-secondary"; cat /tmp/nvme-sec.txt; echo "== virt-mgmt"; cat /tmp/nvme-virt.txt
          echo "== after"; nvme list-secondary "$nvmedev"; } >/tmp/nvme-sriov.log 2>&1
    elif [ -n "$vfs" ]; then
        note "sr-iov: nvme-cli not in the image; VFs left offline without a driver"
    fi
fi

# ------------------------------------------------------------------ network (user-mode)
netif=; vfionet=
for n in /sys/class/net/*; do
    case $(cat "$n/address" 2>/dev/null) in
        "$NET_MAC") netif=${n##*/} ;;
        "$VFIO_MAC") vfionet=${n##*/} ;;
    esac
done
ip link set lo up
if [ -n "$netif" ] && ip link set "$netif" up && ip addr add 10.0.2.15/24 dev "$netif" &&
    ip route add default via 10.0.2.2 dev "$netif"; then
    ok "net: default route via $netif ($(basename "$(readlink -f "/sys/class/net/$netif/device")"))"
else
    nok "net: default route on the e1000e with MAC $NET_MAC" "interface '${netif:-not found}' or ip failed"
fi

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
echo "@@BEGIN complete@@" >"$DATA"; echo "@@END complete rc=0@@" >"$DATA"
exit 0
