#!/bin/sh
# Runs inside the kinds-boot guest (intel_iommu=on iommu=pt): the device kinds beyond PCI
# against the real kernel. First what the kernel itself does (modules load; QEMU's USB
# devices with their serials; a dummy_hcd + configfs gadget; mtty's mdev types; netdevsim's
# VFs set with iproute2), then devpass on the same objects: `usb list/show`, `mdev
# types/create/list/remove/define/start-parent`, `sriov show/vfs/set/apply`, a USB pool by
# serial across an unplug/replug (asked of the host on the console: "DEVPASS-REPLUG ID",
# answered by run.sh's kinds-qmp.py over QMP) and an mdev pool whose claim creates one.
# Judged here: sysfs and iproute2 after each run, exit statuses. Every run also goes to the
# host (run-NAME blocks) with the kernel's own view (usb-sysfs, mdev-sysfs, ip-link-*),
# where check.py holds the JSON against it. A devpass command that does not exist fails.
#
# Every sysfs write here happens inside the guest.
T="vm[kinds]"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

IP=/usr/libexec/devpass-vm/ip      # iproute2's ip (busybox's cannot set VF attributes)
USBSTOR_SERIAL=DPUSB0001           # QEMU usb-storage (46f4:0001), mounted: host-critical
USBSER_SERIAL=DPSER0001            # QEMU usb-serial (FTDI 0403:6001), replugged over QMP
GADGET_SERIAL=DPTEST0001           # the dummy_hcd gadget, 1d6b:0104
MDEV_PARENT=mtty
DP_TIMEOUT=60

data_open kinds
check_root
setup_coldplug
# USB names come from the hardware database, as on a host (only this boot has it)
ln -sf /usr/libexec/devpass-vm/hwdb.bin /etc/udev/hwdb.bin

# ------------------------------------------------------------------ helpers
# usb_by_serial SERIAL: the sysfs name ("3-1") of the USB device with that serial
usb_by_serial() {
    local u
    for u in /sys/bus/usb/devices/*; do
        case ${u##*/} in *:*) continue ;; esac
        [ "$(cat "$u/serial" 2>/dev/null)" = "$1" ] && { echo "${u##*/}"; return 0; }
    done
    return 1
}
# wait_usb SERIAL TRIES: usb_by_serial, polling every 0.2 s
wait_usb() {
    local i=0
    while [ $i -lt "$2" ]; do
        usb_by_serial "$1" && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
# wait_usb_gone SERIAL TRIES: true once no USB device has that serial
wait_usb_gone() {
    local i=0
    while [ $i -lt "$2" ]; do
        usb_by_serial "$1" >/dev/null || return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
# usb_coldplug: load the drivers of every USB interface from its modalias (no udev here)
usb_coldplug() {
    local f
    for f in /sys/bus/usb/devices/*/modalias; do
        modprobe -q "$(cat "$f")" 2>/dev/null
    done
}
# usb_facts: the kernel's view of every USB device, one line each, for check.py
usb_facts() {
    local u n i
    for u in /sys/bus/usb/devices/*; do
        n=${u##*/}
        case $n in *:*) continue ;; esac
        printf '%s busnum=%s devnum=%s devpath=%s vid=%s pid=%s class=%s speed=%s serial=%s controller=%s' \
            "$n" "$(cat "$u/busnum")" "$(cat "$u/devnum")" "$(cat "$u/devpath" 2>/dev/null || echo -)" \
            "$(cat "$u/idVendor")" "$(cat "$u/idProduct")" "$(cat "$u/bDeviceClass")" \
            "$(cat "$u/speed")" "$(cat "$u/serial" 2>/dev/null | tr ' ' '_' || echo -)" \
            "$(basename "$(readlink -f "/sys/bus/usb/devices/usb$(cat "$u/busnum")/..")")"
        for i in "$u"/"$n":*; do
            [ -e "$i" ] || continue
            printf ' if=%s:%s:%s' "${i##*/}" "$(cat "$i/bInterfaceClass")" \
                "$(basename "$(readlink "$i/driver" 2>/dev/null)" 2>/dev/null || echo -)"
        done
        echo
    done
}
# mdev_facts: the kernel's view of mdev types (available instances) and devices
mdev_facts() {
    local t d
    for t in /sys/class/mdev_bus/*/mdev_supported_types/*; do
        [ -e "$t" ] || continue
        echo "type $(basename "$(dirname "$(dirname "$t")")") ${t##*/} available=$(cat "$t/available_instances") api=$(cat "$t/device_api") name=$(tr ' ' '_' <"$t/name" 2>/dev/null)"
    done
    for d in /sys/bus/mdev/devices/*; do
        [ -e "$d" ] || continue
        echo "device ${d##*/} parent=$(basename "$(readlink -f "$d/..")") type=$(basename "$(readlink -f "$d/mdev_type")")"
    done
}
mdev_exists() { [ -e "/sys/bus/mdev/devices/$1" ]; }
mdev_count() { ls /sys/bus/mdev/devices 2>/dev/null | wc -l; }
avail() { cat "/sys/class/mdev_bus/$MDEV_PARENT/mdev_supported_types/$1/available_instances" 2>/dev/null; }
# vf_line DEV N: iproute2's line for VF N of DEV ("vf 1     link/ether ... trust on")
vf_line() { $IP link show "$1" | tr -s ' ' | grep -E "^ ?vf $2 " | head -n1; }
# refusal_bad CODES: what is wrong with the last devpass run as a refusal: an exit status
# not among CODES, no message, or a command or option devpass does not have (that is a
# missing feature, not a refusal)
refusal_bad() {
    case " $1 " in *" $rc "*) ;; *) echo "exit $rc" ;; esac
    [ -s /tmp/dp.err ] || echo "no message"
    grep -qiE "unknown (command|option)|unrecognized option" /tmp/dp.err && echo "devpass lacks it: $(errline)"
}
# new_uuid: a random UUID from the kernel
new_uuid() { cat /proc/sys/kernel/random/uuid; }
# sh_bench NAME SCRIPT: run a bench script of the other parts, figures to the console
sh_bench() {
    local s=/tests/bench/$2 t0
    if [ ! -f "$s" ]; then
        note "bench: $2 not in this build (no bench/$2 in the tree)"
        return
    fi
    t0=$(now_ms)
    PATH=/usr/libexec/devpass-vm/coreutils:$PATH DEVPASS=/usr/bin/devpass bash "$s" >/tmp/bench.out 2>&1; brc=$?
    sed "s/^/# $T bench $1: /" /tmp/bench.out | head -n 40
    send_run "bench-$1" "bash bench/$2" "$brc" /tmp/bench.out /dev/null "$t0" "$(now_ms)"
    [ "$brc" = 0 ] && ok "bench: $2 ran (exit 0)" || nok "bench: $2 ran" "exit $brc: $(tail -n 2 /tmp/bench.out | tr '\n' ' ')"
}

# ================================================================== 1. the kernel alone
bad=
for m in usb-storage sd_mod usbhid ftdi_sio cdc_acm dummy_hcd libcomposite usb_f_acm \
         mdev vfio_iommu_type1 mtty netdevsim; do
    modprobe "$m" 2>>/tmp/modprobe.err || bad="$bad $m"
done
expect "modules: usb-storage, usbhid, ftdi_sio, cdc_acm, dummy_hcd, libcomposite, usb_f_acm, mdev, mtty, netdevsim load" "" \
    "${bad:+failed:$bad: $(tr '\n' ' ' </tmp/modprobe.err | cut -c1-200)}"
usb_coldplug

# -- QEMU's USB devices on qemu-xhci 03:00.0
stor=$(wait_usb $USBSTOR_SERIAL 100)
ser=$(wait_usb $USBSER_SERIAL 50)
usb_coldplug
sleep 1
bad=
[ -n "$stor" ] || bad="no USB device with serial $USBSTOR_SERIAL;"
[ -n "$ser" ] || bad="$bad no USB device with serial $USBSER_SERIAL;"
for u in $stor $ser; do
    c=$(basename "$(readlink -f "/sys/bus/usb/devices/usb$(cat /sys/bus/usb/devices/$u/busnum)/..")")
    [ "$c" = 0000:03:00.0 ] || bad="$bad $u hangs off $c, not 0000:03:00.0;"
done
expect "usb: usb-storage ($USBSTOR_SERIAL at ${stor:-?}) and usb-serial ($USBSER_SERIAL at ${ser:-?}) enumerated on qemu-xhci 0000:03:00.0" "" "$bad"
check_usb
serdrv=$(basename "$(readlink "/sys/bus/usb/devices/$ser/$ser:1.0/driver" 2>/dev/null)" 2>/dev/null)
expect "usb: the usb-serial's interface is driven by ftdi_sio" "" \
    "$([ "$serdrv" = ftdi_sio ] || echo "driver is '${serdrv:-none}'")"

# -- the usb-storage disk, mounted: the host holds it
sdx=
i=0
while [ -z "$sdx" ] && [ $i -lt 50 ]; do
    for b in /sys/block/sd*; do
        [ -e "$b" ] || continue
        case $(readlink -f "$b") in */"$stor"/*) sdx=${b##*/} ;; esac
    done
    [ -n "$sdx" ] || { sleep 0.2; i=$((i + 1)); }
done
mkdir -p /mnt/usb
if [ -n "$sdx" ] && mount -t ext4 "/dev/$sdx" /mnt/usb 2>/tmp/mount.err; then
    ok "usb: the usb-storage disk is /dev/$sdx, mounted on /mnt/usb"
else
    nok "usb: the usb-storage disk mounted on /mnt/usb" "disk '${sdx:-none}': $(cat /tmp/mount.err 2>/dev/null)"
fi

# -- a dummy_hcd gadget through configfs (libcomposite, one ACM function)
mount -t configfs none /sys/kernel/config 2>/dev/null
G=/sys/kernel/config/usb_gadget/dpg
gadget_ok=0
if mkdir -p "$G/strings/0x409" "$G/configs/c.1/strings/0x409" "$G/functions/acm.usb0" 2>/tmp/gadget.err &&
    echo 0x1d6b >"$G/idVendor" && echo 0x0104 >"$G/idProduct" &&
    echo "$GADGET_SERIAL" >"$G/strings/0x409/serialnumber" &&
    echo devpass >"$G/strings/0x409/manufacturer" &&
    echo "devpass test gadget" >"$G/strings/0x409/product" &&
    echo acm >"$G/configs/c.1/strings/0x409/configuration" &&
    ln -s "$G/functions/acm.usb0" "$G/configs/c.1/" &&
    udc=$(ls /sys/class/udc | head -n1) && [ -n "$udc" ] && echo "$udc" >"$G/UDC" 2>>/tmp/gadget.err; then
    gadget_ok=1
fi
gad=$(wait_usb $GADGET_SERIAL 100)
usb_coldplug
gctl=
[ -n "$gad" ] && gctl=$(basename "$(readlink -f "/sys/bus/usb/devices/usb$(cat "/sys/bus/usb/devices/$gad/busnum")/..")")
bad=
[ "$gadget_ok" = 1 ] || bad="configfs setup failed: $(tr '\n' ' ' </tmp/gadget.err)"
[ -n "$gad" ] || bad="$bad no USB device with serial $GADGET_SERIAL"
[ -z "$gad" ] || [ "$(cat "/sys/bus/usb/devices/$gad/idVendor"):$(cat "/sys/bus/usb/devices/$gad/idProduct")" = 1d6b:0104 ] ||
    bad="$bad $gad is not 1d6b:0104"
[ -z "$gad" ] || [ "$gctl" = dummy_hcd.0 ] || bad="$bad its bus hangs off '$gctl'"
expect "usb: dummy_hcd gadget 1d6b:0104 serial $GADGET_SERIAL enumerated at ${gad:-?} on dummy_hcd.0 (UDC ${udc:-none})" "" "$bad"
emit usb-sysfs usb_facts
emit lsusb lsusb

# -- mtty: types and a create/remove by sysfs
t1=$(avail mtty-1) t2=$(avail mtty-2)
expect "mdev: mtty's types mtty-1 and mtty-2 under /sys/class/mdev_bus/mtty with 24 and 12 instances" "" \
    "$([ "$t1 $t2" = "24 12" ] || echo "available_instances: mtty-1='$t1' mtty-2='$t2'")"
u=$(new_uuid)
bad=
echo "$u" >"/sys/class/mdev_bus/$MDEV_PARENT/mdev_supported_types/mtty-2/create" 2>/tmp/mdev.err || bad="create: $(cat /tmp/mdev.err)"
mdev_exists "$u" || bad="$bad /sys/bus/mdev/devices/$u missing"
[ "$(avail mtty-2) $(avail mtty-1)" = "11 22" ] || bad="$bad available after create: mtty-2=$(avail mtty-2) mtty-1=$(avail mtty-1)"
echo 1 >"/sys/bus/mdev/devices/$u/remove" 2>/dev/null
mdev_exists "$u" && bad="$bad still there after remove"
expect "mdev: sysfs create of an mtty-2 takes 2 of mtty's 24 ports, remove gives them back" "" "$bad"

# -- netdevsim: a device with one port, 4 VFs set with iproute2
NSIM=/sys/bus/netdevsim/devices/netdevsim1
nsdev=
if echo "1 1" >/sys/bus/netdevsim/new_device 2>/tmp/nsim.err; then
    i=0
    while [ -z "$nsdev" ] && [ $i -lt 25 ]; do
        nsdev=$(ls "$NSIM/net" 2>/dev/null | head -n1)
        [ -n "$nsdev" ] || { sleep 0.2; i=$((i + 1)); }
    done
fi
expect "sriov: netdevsim device 1 with one port (netdev ${nsdev:-none})" "" \
    "$([ -n "$nsdev" ] || echo "new_device: $(cat /tmp/nsim.err) no netdev under $NSIM/net")"
bad=
echo 4 >"$NSIM/sriov_numvfs" 2>/tmp/nsim.err || bad="sriov_numvfs=4: $(cat /tmp/nsim.err)"
[ "$(cat "$NSIM/sriov_numvfs" 2>/dev/null)" = 4 ] || bad="$bad sriov_numvfs reads '$(cat "$NSIM/sriov_numvfs" 2>/dev/null)'"
if [ -n "$nsdev" ]; then
    $IP link set "$nsdev" up 2>/dev/null
    $IP link set "$nsdev" vf 1 mac 02:00:00:00:01:01 vlan 100 trust on 2>/tmp/ip.err || bad="$bad ip link set: $(cat /tmp/ip.err)"
    l=$(vf_line "$nsdev" 1)
    case $l in *"02:00:00:00:01:01"*"vlan 100"*"trust on"*) ;; *) bad="$bad vf 1 reads back '$l'" ;; esac
fi
expect "sriov: sriov_numvfs=4 on netdevsim; ip link set vf 1 mac 02:00:00:00:01:01 vlan 100 trust on reads back" "" "$bad"
emit ip-link-kernel $IP -d link show "$nsdev"

# ================================================================== 2. devpass usb
if ! command -v devpass >/dev/null 2>&1; then
    nok "devpass: binary present in the guest" "not built"
fi
dp usb-list-json usb list --json
expect "devpass usb list --json: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
dp usb-list-all-json usb list --all --json
expect "devpass usb list --all --json: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
dp usb-list-text usb list
expect "devpass usb list: exit 0, names $USBSTOR_SERIAL, $USBSER_SERIAL, $GADGET_SERIAL" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")
     $(for s in $USBSTOR_SERIAL $USBSER_SERIAL $GADGET_SERIAL; do grep -q "$s" /tmp/dp.out || echo "no $s;"; done)"
dp usb-show-loc usb show "${ser:-1-1}" --json
expect "devpass usb show ${ser:-?} --json (the usb-serial by location): exit 0, its serial" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -q $USBSER_SERIAL /tmp/dp.out || echo "no $USBSER_SERIAL in $(outline)")"
dp usb-show-id usb show 0403:6001:$USBSER_SERIAL --json
expect "devpass usb show 0403:6001:$USBSER_SERIAL --json: exit 0, location ${ser:-?}" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -q "\"$ser\"" /tmp/dp.out || echo "no \"$ser\" in $(outline)")"
dp usb-show-gadget usb show 1d6b:0104 --json
expect "devpass usb show 1d6b:0104 --json (the gadget): exit 0, controller dummy_hcd.0" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -q dummy_hcd.0 /tmp/dp.out || echo "no dummy_hcd.0 in $(outline)")"
dp usb-show-missing usb show 9-9.9
expect "devpass usb show 9-9.9 (no such device): exit 1 with a message" "" \
    "$(refusal_bad 1)"
dp usb-show-bad usb show ../../etc
expect "devpass usb show ../../etc: refused (exit 1 or 2) with a message" "" \
    "$(refusal_bad "1 2")"

# ================================================================== 3. devpass mdev
dp mdev-types-json mdev types $MDEV_PARENT --json
expect "devpass mdev types $MDEV_PARENT --json: exit 0, mtty-1 and mtty-2" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -q mtty-1 /tmp/dp.out && grep -q mtty-2 /tmp/dp.out || echo "types missing: $(outline)")"
dp mdev-types-all-text mdev types
expect "devpass mdev types: exit 0, names mtty-2" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -q mtty-2 /tmp/dp.out || echo "no mtty-2: $(outline)")"
before=$(mdev_count)
dp mdev-create mdev create $MDEV_PARENT mtty-2
mu=$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' /tmp/dp.out | head -n1)
bad=
[ "$rc" = 0 ] || bad="exit $rc: $(errline)"
[ -n "$mu" ] || bad="$bad no UUID printed: $(outline)"
[ -n "$mu" ] && ! mdev_exists "$mu" && bad="$bad /sys/bus/mdev/devices/$mu missing"
[ -n "$mu" ] && [ "$(basename "$(readlink -f "/sys/bus/mdev/devices/$mu/mdev_type")")" != mtty-2 ] && bad="$bad not of type mtty-2"
[ "$(avail mtty-2)" = 11 ] || bad="$bad mtty-2 available $(avail mtty-2), not 11"
expect "devpass mdev create $MDEV_PARENT mtty-2: prints the UUID, the kernel has it (${mu:-?})" "" "$bad"
emit mdev-sysfs-created mdev_facts
dp mdev-list-json mdev list --json
expect "devpass mdev list --json: exit 0, lists ${mu:-the new mdev}" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ -n "$mu" ] && grep -q "$mu" /tmp/dp.out || echo "not listed: $(outline)")"
dp mdev-types-after mdev types $MDEV_PARENT --json
mu2=$(new_uuid)
dp mdev-create-uuid mdev create $MDEV_PARENT mtty-1 --uuid "$mu2"
expect "devpass mdev create $MDEV_PARENT mtty-1 --uuid U: exit 0, /sys/bus/mdev/devices/U" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(mdev_exists "$mu2" || echo "no $mu2 in sysfs")"
n=$(mdev_count)
dp mdev-create-dup mdev create $MDEV_PARENT mtty-1 --uuid "$mu2"
expect "devpass mdev create with a UUID in use: exit 1, message, nothing created" "" \
    "$(refusal_bad 1) $([ "$(mdev_count)" = "$n" ] || echo "mdev count $n -> $(mdev_count)")"
dp mdev-create-badtype mdev create $MDEV_PARENT mtty-9
expect "devpass mdev create $MDEV_PARENT mtty-9 (no such type): exit 1, message, nothing created" "" \
    "$(refusal_bad 1) $([ "$(mdev_count)" = "$n" ] || echo "mdev count $n -> $(mdev_count)")"
dp mdev-create-baduuid mdev create $MDEV_PARENT mtty-1 --uuid not-a-uuid
expect "devpass mdev create --uuid not-a-uuid: refused (exit 1 or 2), nothing created" "" \
    "$(refusal_bad "1 2") $([ "$(mdev_count)" = "$n" ] || echo "mdev count $n -> $(mdev_count)")"
for x in $mu $mu2; do
    dp "mdev-remove-${x%%-*}" mdev remove "$x"
    expect "devpass mdev remove $x: exit 0, gone from sysfs" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(mdev_exists "$x" && echo "still in /sys/bus/mdev/devices")"
done
expect "mdev: every port back after the removals (mtty-1 24, mtty-2 12)" "" \
    "$([ "$(avail mtty-1) $(avail mtty-2)" = "24 12" ] || echo "mtty-1=$(avail mtty-1) mtty-2=$(avail mtty-2)")"
dp mdev-remove-missing mdev remove "$(new_uuid)"
expect "devpass mdev remove of an unknown UUID: exit 1 with a message" "" \
    "$(refusal_bad 1)"

# -- definitions: --auto, lost (as at a reboot), start-parent brings it back
ma=$(new_uuid)
dp mdev-create-auto mdev create $MDEV_PARENT mtty-1 --uuid "$ma" --auto
expect "devpass mdev create --auto: exit 0, active" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(mdev_exists "$ma" || echo "no $ma in sysfs")"
echo 1 >"/sys/bus/mdev/devices/$ma/remove" 2>/dev/null   # what a reboot does to it
dp mdev-list-defined mdev list --json
expect "devpass mdev list --json after the kernel lost it: still listed (defined)" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -q "$ma" /tmp/dp.out || echo "not listed: $(outline)")"
dp mdev-start-parent mdev start-parent $MDEV_PARENT
expect "devpass mdev start-parent $MDEV_PARENT: exit 0, the auto definition is active again" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(mdev_exists "$ma" || echo "$ma not re-created")"
dp mdev-remove-undefine mdev remove "$ma" --undefine
rrc=$rc; rerr=$(errline)
dp mdev-list-undefined mdev list --json
expect "devpass mdev remove --undefine: exit 0, gone from sysfs and from the list" "" \
    "$([ "$rrc" = 0 ] || echo "exit $rrc: $rerr") $([ "$rc" = 0 ] || echo "list exit $rc")
     $(mdev_exists "$ma" && echo "still in sysfs") $(grep -q "$ma" /tmp/dp.out && echo "still listed")"
md=$(new_uuid)
dp mdev-define mdev define $MDEV_PARENT mtty-2 --uuid "$md"
expect "devpass mdev define: exit 0, nothing created in the kernel" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(mdev_exists "$md" && echo "created in sysfs")"
dp mdev-list-define mdev list --json
dp mdev-undefine mdev undefine "$md"
expect "devpass mdev undefine: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"

# ================================================================== 4. devpass sriov (netdevsim)
dp sriov-show-json sriov show "$nsdev" --json
expect "devpass sriov show $nsdev --json: exit 0, VF 1 with 02:00:00:00:01:01" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -qi 02:00:00:00:01:01 /tmp/dp.out || echo "no VF 1 MAC: $(outline)")"
dp sriov-vfs-0 sriov vfs "$nsdev" 0
expect "devpass sriov vfs $nsdev 0: exit 0, sriov_numvfs 0" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ "$(cat $NSIM/sriov_numvfs)" = 0 ] || echo "sriov_numvfs $(cat $NSIM/sriov_numvfs)")"
dp sriov-vfs-4 sriov vfs "$nsdev" 4
expect "devpass sriov vfs $nsdev 4: exit 0, sriov_numvfs 4" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ "$(cat $NSIM/sriov_numvfs)" = 4 ] || echo "sriov_numvfs $(cat $NSIM/sriov_numvfs)")"
dp sriov-set sriov set --pf "$nsdev" --vf 2 --mac 02:00:00:00:02:02 --vlan 200 --qos 3 \
    --max-rate 1000 --min-rate 100 --spoofchk off --trust on --link-state disable
l=$(vf_line "$nsdev" 2)
bad=
[ "$rc" = 0 ] || bad="exit $rc: $(errline)"
for w in "02:00:00:00:02:02" "vlan 200" "qos 3" "max_tx_rate 1000Mbps" "min_tx_rate 100Mbps" \
         "spoof checking off" "link-state disable" "trust on"; do
    case $l in *"$w"*) ;; *) bad="$bad no '$w';" ;; esac
done
expect "devpass sriov set --pf $nsdev --vf 2 (mac, vlan+qos, rates, spoofchk, trust, link-state): ip link reads every one back" "" \
    "$bad${bad:+ line: $l}"
emit ip-link-set $IP -d link show "$nsdev"
dp sriov-show-set sriov show "$nsdev" --json
dp sriov-set-ad sriov set --pf "$nsdev" --vf 3 --vlan 300 --proto 802.1ad
l=$(vf_line "$nsdev" 3)
expect "devpass sriov set --vf 3 --vlan 300 --proto 802.1ad: ip link reads vlan 300 802.1ad" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(case $l in *"vlan 300"*802.1ad*) ;; *) echo "line: $l" ;; esac)"
before=$($IP link show "$nsdev" | tr -s ' ' | grep -E '^ ?vf ')
dp sriov-set-badvf sriov set --pf "$nsdev" --vf 9 --mac 02:00:00:00:09:09
expect "devpass sriov set --vf 9 (past sriov_numvfs 4): exit 1, message, nothing changed" "" \
    "$(refusal_bad 1)
     $([ "$($IP link show "$nsdev" | tr -s ' ' | grep -E '^ ?vf ')" = "$before" ] || echo "VFs changed")"
dp sriov-set-mcast sriov set --pf "$nsdev" --vf 0 --mac 01:00:5e:00:00:01
expect "devpass sriov set --mac 01:00:5e:00:00:01 (multicast): refused (exit 1 or 2), nothing changed" "" \
    "$(refusal_bad "1 2")
     $([ "$($IP link show "$nsdev" | tr -s ' ' | grep -E '^ ?vf ')" = "$before" ] || echo "VFs changed")"
dp sriov-set-badvlan sriov set --pf "$nsdev" --vf 0 --vlan 5000
expect "devpass sriov set --vlan 5000: refused (exit 1 or 2), nothing changed" "" \
    "$(refusal_bad "1 2")
     $([ "$($IP link show "$nsdev" | tr -s ' ' | grep -E '^ ?vf ')" = "$before" ] || echo "VFs changed")"
# Re-created VFs: a real NIC forgets their settings; netdevsim keeps them across
# sriov_numvfs, so they are cleared by hand the way a real PF's driver would start them.
echo 0 >"$NSIM/sriov_numvfs"; echo 4 >"$NSIM/sriov_numvfs"
$IP link set "$nsdev" vf 2 mac 00:00:00:00:00:00 vlan 0 trust off spoofchk on state auto min_tx_rate 0 max_tx_rate 0 2>/dev/null
$IP link set "$nsdev" vf 3 vlan 0 2>/dev/null
l=$(vf_line "$nsdev" 2)
note "VF 2 after the re-creation, before apply: $l"
dp sriov-apply sriov apply "$nsdev"
l=$(vf_line "$nsdev" 2)
bad=
[ "$rc" = 0 ] || bad="exit $rc: $(errline)"
for w in "02:00:00:00:02:02" "vlan 200" "qos 3" "max_tx_rate 1000Mbps" "spoof checking off" "trust on" "link-state disable"; do
    case $l in *"$w"*) ;; *) bad="$bad no '$w';" ;; esac
done
expect "devpass sriov apply $nsdev: the stored settings of VF 2 are back on the re-created VFs" "" \
    "$bad${bad:+ line: $l}"
emit ip-link-applied $IP -d link show "$nsdev"

# ================================================================== 5. pools of the new kinds
# -- a USB pool by serial, claimed, across an unplug/replug of the device
dp pool-usb-create pool create usbser --type usb --description "the usb-serial by serial"
expect "devpass pool create usbser --type usb: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
dp pool-usb-rule pool rule add usbser "serial=$USBSER_SERIAL"
expect "devpass pool rule add usbser serial=$USBSER_SERIAL: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
dp pool-usb-claim claim usbser --for vmusb --pid 0 --json
usbclaim=$rc
expect "devpass claim usbser --for vmusb: exit 0, names the device" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -qE "$USBSER_SERIAL|\"${ser:-none}\"" /tmp/dp.out || echo "answer: $(outline)")"
dp pool-usb-show-before pool show usbser --json
[ -n "$ser" ] && echo "DEVPASS-REPLUG usbser0"
if [ -z "$ser" ]; then
    nok "usb replug: $USBSER_SERIAL unplugged and plugged back (QMP)" "the usb-serial was never there"
elif wait_usb_gone $USBSER_SERIAL 150; then
    ok "usb replug: $USBSER_SERIAL left (QMP device_del)"
    ser2=$(wait_usb $USBSER_SERIAL 150)
    usb_coldplug
    expect "usb replug: $USBSER_SERIAL came back (QMP device_add) at ${ser2:-?}" "" \
        "$([ -n "$ser2" ] || echo "not back after 30 s")"
else
    nok "usb replug: $USBSER_SERIAL left (QMP device_del)" "still there after 30 s (no answer from the host's kinds-qmp.py?)"
fi
dp pool-usb-show-after pool show usbser --json
expect "devpass pool show usbser --json after the replug: the member is still claimed by vmusb" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -q vmusb /tmp/dp.out || echo "no vmusb: $(outline)")"
dp usb-list-replugged usb list --json
dp pool-usb-release release --for vmusb --json
expect "devpass release --for vmusb: exit 0, after a claim that worked" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ "$usbclaim" = 0 ] || echo "nothing was claimed (claim exit $usbclaim)")"

# -- an mdev pool: a claim creates an mdev, the release removes it
dp pool-mdev-create pool create mtty2 --type mdev
expect "devpass pool create mtty2 --type mdev: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
dp pool-mdev-rule pool rule add mtty2 "type=mtty-2"
expect "devpass pool rule add mtty2 type=mtty-2: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
ls /sys/bus/mdev/devices >/tmp/mdev.before 2>/dev/null
dp pool-mdev-claim claim mtty2 --for vmmdev --pid 0 --json
ls /sys/bus/mdev/devices >/tmp/mdev.after 2>/dev/null
newm=$(diff /tmp/mdev.before /tmp/mdev.after | grep '^+[0-9a-f]' | sed 's/^+//' | head -n1)
expect "devpass claim mtty2 --for vmmdev: exit 0, one new mtty-2 mdev in sysfs, named in the answer" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ -n "$newm" ] || echo "no new mdev")
     $([ -z "$newm" ] || [ "$(basename "$(readlink -f "/sys/bus/mdev/devices/$newm/mdev_type")")" = mtty-2 ] || echo "not mtty-2")
     $([ -z "$newm" ] || grep -q "$newm" /tmp/dp.out || echo "answer does not name $newm")"
dp pool-mdev-release release --for vmmdev --json
expect "devpass release --for vmmdev: exit 0, the mdev the claim created removed" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ -n "$newm" ] || echo "the claim created none")
     $([ -n "$newm" ] && mdev_exists "$newm" && echo "$newm still in sysfs")"
emit mdev-sysfs-end mdev_facts

# ================================================================== 6. a nested QEMU sees both
# What a VM is handed: this machine's QEMU (in the image for the vm boot), paused (-S),
# with an mtty-1 mdev as vfio-pci sysfsdev= and the usb-serial as usb-host on its own xHCI;
# QMP's query-pci must show mtty's PCI ids (4348:3253) and `info usb` the FTDI device.
NQ=/tmp/nested
mkdir -p $NQ
nu=$(new_uuid)
echo "$nu" >"/sys/class/mdev_bus/$MDEV_PARENT/mdev_supported_types/mtty-1/create" 2>/dev/null
ulimit -l unlimited 2>/dev/null
# in the background, not -daemonize: its messages (usb-host's above all) stay in $NQ/err
qemu-system-x86_64 -accel tcg -machine q35 -m 64 -nodefaults -display none -S \
    -qmp "unix:$NQ/qmp.sock,server=on,wait=off" \
    -device "vfio-pci,sysfsdev=/sys/bus/mdev/devices/$nu" \
    -device qemu-xhci,id=nxhci -device usb-host,bus=nxhci.0,vendorid=0x0403,productid=0x6001 \
    </dev/null >$NQ/err 2>&1 &
nqpid=$!
i=0
while [ ! -S $NQ/qmp.sock ] && kill -0 $nqpid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
# usb-host looks for a device matching vendorid/productid every 2 s, only while the VM
# runs: `cont` (SeaBIOS finds nothing to boot, which is fine), `info usb` 3 s later
{ printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-pci"}' '{"execute":"cont"}'
  sleep 3
  printf '%s\n' '{"execute":"human-monitor-command","arguments":{"command-line":"info usb"}}' '{"execute":"quit"}'
} | socat -t 5 - "UNIX-CONNECT:$NQ/qmp.sock" >$NQ/out 2>&1
emit nested-qmp cat $NQ/out $NQ/err
bad=
grep -qE '"vendor": ?17224' $NQ/out && grep -qE '"device": ?12883' $NQ/out ||
    bad="no 4348:3253 in query-pci: $(tr '\n' ' ' <$NQ/err | cut -c1-200)"
expect "nested QEMU: vfio-pci sysfsdev=/sys/bus/mdev/devices/$nu shows mtty's PCI function 4348:3253" "" "$bad"
expect "nested QEMU: usb-host 0403:6001 (the usb-serial) is on its xHCI (info usb)" "" \
    "$(grep -qE 'Device [0-9.]+, Port [0-9]+, Speed 12 Mb/s, Product QEMU USB SERIAL' $NQ/out || echo "info usb: $(grep -o '"return": "[^"]*"' $NQ/out | tail -n 1) qemu: $(tr '\n' ' ' <$NQ/err | cut -c1-200)")"
i=0
while kill -0 $nqpid 2>/dev/null && [ $i -lt 25 ]; do sleep 0.2; i=$((i + 1)); done
kill -9 $nqpid 2>/dev/null
echo 1 >"/sys/bus/mdev/devices/$nu/remove" 2>/dev/null
usb_coldplug   # QEMU gave the interface back on quit; ftdi_sio takes it again

# ================================================================== 7. the benches of the parts
mount -t ext4 -o remount,ro /mnt/usb 2>/dev/null   # (the disk stays mounted for the bench)
sh_bench usb usb-bench.sh
sh_bench mdev mdev-bench.sh

umount /mnt/usb 2>/dev/null
data_close
