# Shared by the guest scripts (sourced, busybox sh): result lines, the data channel to the
# host, and the steps that set the guest up the way a host would be (drivers coldplugged,
# SR-IOV VFs, a default route). The caller sets T (the test name prefix, e.g. "vm[iommu=on]").
# These scripts write to /sys: only ever inside the harness guest, whose kernel command line
# tests/vm/run.sh sets (devpass_vm=MODE). Anywhere else they stop before touching anything.
case " $(cat /proc/cmdline 2>/dev/null) " in
    *" devpass_vm="*) ;;
    *) echo "guest-lib.sh: not the tests/vm harness guest (no devpass_vm= on the kernel command line); refusing to run" >&2
       exit 2 ;;
esac
DATA=/dev/ttyS1
NET_MAC=52:54:00:12:34:56      # e1000e 00:03.0 on user networking: gets the default route
VFIO_MAC=52:54:00:12:34:57     # e1000e 04:00.0 behind a root port

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

# data_open MODE: raw serial line, first block says which boot this is
data_open() {
    stty -F "$DATA" raw -echo 2>/dev/null
    echo "@@BEGIN mode@@" >"$DATA"; echo "$1" >"$DATA"; echo "@@END mode rc=0@@" >"$DATA"
}
data_close() { echo "@@BEGIN complete@@" >"$DATA"; echo "@@END complete rc=0@@" >"$DATA"; }

# now_ms: milliseconds since boot (busybox date has no %N; 10 ms resolution)
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }

# sysfs helpers: driver name / driver_override of a function ("-" when none)
drv_of() {
    local l
    l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && echo "${l##*/}" || echo -
}
ovr_of() {
    local o
    o=$(cat "/sys/bus/pci/devices/$1/driver_override" 2>/dev/null)
    case $o in ''|'(null)') echo - ;; *) echo "$o" ;; esac
}
group_of() {
    local l
    l=$(readlink "/sys/bus/pci/devices/$1/iommu_group" 2>/dev/null) && echo "${l##*/}" || echo -
}

# ------------------------------------------------------------------ boot basics
check_root() {
    rootsrc=$(awk '$5 == "/" {for (i = 7; i <= NF; i++) if ($i == "-") {print $(i + 2); exit}}' /proc/self/mountinfo)
    if [ "$rootsrc" = /dev/vda ]; then
        ok "boot: / is /dev/vda (virtio-blk) in /proc/self/mountinfo"
    else
        nok "boot: / is /dev/vda" "mountinfo says '$rootsrc'"
    fi
    note "kernel $(uname -r), cmdline: $(cat /proc/cmdline)"
}

# ------------------------------------------------------------------ drivers (coldplug)
setup_coldplug() {
    for f in /sys/bus/pci/devices/*/modalias; do
        modprobe -q "$(cat "$f")" 2>/dev/null
    done
    if modprobe vfio && modprobe vfio_iommu_type1 && modprobe vfio-pci; then
        ok "modules: vfio, vfio_iommu_type1, vfio-pci loaded"
    else
        nok "modules: vfio, vfio_iommu_type1, vfio-pci loaded" "modprobe failed"
    fi
    sleep 1
}

# ------------------------------------------------------------------ USB behind qemu-xhci
check_usb() {
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
}

# ------------------------------------------------------------------ SR-IOV (nvme)
# find_sriov_pf: sets pf (sysfs dir) / pfa (address) of the nvme PF with SR-IOV, or pf=
find_sriov_pf() {
    pf=; pfa=
    for d in /sys/bus/pci/devices/*; do
        [ -r "$d/sriov_totalvfs" ] || continue
        [ "$(cat "$d/sriov_totalvfs")" -gt 0 ] 2>/dev/null || continue
        [ "$(cat "$d/class")" = 0x010802 ] && pf=$d && pfa=${d##*/} && break
    done
}

# setup_sriov WANT ONLINE: enable WANT VFs (at most sriov_totalvfs) on the nvme PF with
# sriov_drivers_autoprobe=0, so they are created without a driver. With ONLINE=1, bring
# QEMU's secondary controllers online with nvme-cli (they start offline and cannot be
# enabled before that) and bind the nvme driver to each VF (driver_override=nvme +
# drivers_probe). Sets vfs to the VF addresses.
setup_sriov() {
    want=$1 online=$2
    vfs=
    find_sriov_pf
    if [ -z "$pf" ]; then
        nok "sr-iov: nvme PF with sriov_totalvfs > 0" "none found"
        return
    fi
    total=$(cat "$pf/sriov_totalvfs")
    [ "$total" -lt "$want" ] && want=$total
    drv=$(basename "$(readlink "$pf/driver" 2>/dev/null)" 2>/dev/null)
    note "sr-iov PF $pfa driver=${drv:-none} totalvfs=$total"
    nvmedev=
    for c in /sys/class/nvme/nvme*; do
        [ "$(readlink -f "$c/device")" = "$(readlink -f "$pf")" ] && nvmedev=/dev/${c##*/}
    done
    echo 0 >"$pf/sriov_drivers_autoprobe"
    if echo "$want" >"$pf/sriov_numvfs" 2>/tmp/sriov.err; then
        n=0
        for l in "$pf"/virtfn*; do
            [ -e "$l" ] || continue
            n=$((n + 1)); vfs="$vfs $(basename "$(readlink "$l")")"
        done
        # virtfnN links come in glob (not numeric) order: sort the addresses
        vfs=$(for v in $vfs; do echo "$v"; done | sort)
        vfs=$(echo $vfs)
        if [ "$n" = "$want" ]; then
            if [ "$n" -le 4 ]; then
                ok "sr-iov: sriov_numvfs=$want on $pfa created $n VFs: $vfs"
            else
                ok "sr-iov: sriov_numvfs=$want on $pfa created $n VFs"
            fi
        else
            nok "sr-iov: sriov_numvfs=$want on $pfa" "found $n virtfn links"
        fi
        badpf=
        for v in $vfs; do
            [ "$(basename "$(readlink -f "/sys/bus/pci/devices/$v/physfn")")" = "$pfa" ] || badpf="$badpf $v"
        done
        if [ "$n" -le 4 ]; then
            for v in $vfs; do
                case " $badpf " in
                    *" $v "*) nok "sr-iov: $v has physfn -> $pfa" "physfn is '$(readlink "/sys/bus/pci/devices/$v/physfn")'" ;;
                    *) ok "sr-iov: $v has physfn -> $pfa" ;;
                esac
            done
        elif [ -n "$badpf" ]; then
            nok "sr-iov: every VF has physfn -> $pfa" "not:$badpf"
        else
            ok "sr-iov: every VF has physfn -> $pfa"
        fi
    else
        nok "sr-iov: write sriov_numvfs=$want on $pfa" "$(cat /tmp/sriov.err)"
    fi
    [ "$online" = 1 ] || return 0
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
        for v in $vfs; do
            live=$(wait_nvme_live "$v" 100)
            if [ -n "$live" ]; then
                ok "sr-iov: VF $v online and driven by nvme ($live)"
            else
                nok "sr-iov: VF $v online and driven by nvme" "driver=$(drv_of "$v") virt-mgmt ok=$nvmeok: $(tr '\n' ' ' </tmp/nvme-virt.txt | cut -c1-300)"
            fi
        done
        { echo "== list-secondary"; cat /tmp/nvme-sec.txt; echo "== virt-mgmt"; cat /tmp/nvme-virt.txt
          echo "== after"; nvme list-secondary "$nvmedev"; } >/tmp/nvme-sriov.log 2>&1
    elif [ -n "$vfs" ]; then
        note "sr-iov: nvme-cli not in the image; VFs left offline without a driver"
    fi
}

# wait_nvme_live ADDR TRIES: print the nvme controller (nvmeN) of ADDR once it is live,
# polling every 0.2 s at most TRIES times; print nothing when it never is
wait_nvme_live() {
    local i=0 c
    while [ "$i" -lt "$2" ]; do
        for c in /sys/class/nvme/nvme*; do
            [ "$(basename "$(readlink -f "$c/device")")" = "$1" ] &&
                [ "$(cat "$c/state" 2>/dev/null)" = live ] && { echo "${c##*/}"; return 0; }
        done
        sleep 0.2; i=$((i + 1))
    done
    return 1
}

# ------------------------------------------------------------------ network (user-mode)
# setup_net: default route on the e1000e with NET_MAC; sets netif and vfionet (the
# interface of the e1000e with VFIO_MAC)
setup_net() {
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
}

# dp NAME ARGS...: run `devpass ARGS` under $DP_TIMEOUT (default 120 s); stdout/stderr in
# /tmp/dp.out and /tmp/dp.err, the exit status in $rc; all of it sent to the host as
# run-NAME
dp() {
    local name=$1 t0 t1
    shift
    t0=$(now_ms)
    timeout "${DP_TIMEOUT:-120}" devpass "$@" >/tmp/dp.out 2>/tmp/dp.err
    rc=$?
    t1=$(now_ms)
    send_run "$name" "devpass $*" "$rc" /tmp/dp.out /tmp/dp.err "$t0" "$t1"
    return $rc
}
# send_run NAME CMDLINE RC OUT ERR T0 T1: one run as run-NAME{,.stderr,.cmd} blocks
send_run() {
    {
        echo "@@BEGIN run-$1@@"
        cat "$4"
        echo "@@END run-$1 rc=$3@@"
        echo "@@BEGIN run-$1.stderr@@"
        cat "$5"
        echo "@@END run-$1.stderr rc=0@@"
        echo "@@BEGIN run-$1.cmd@@"
        echo "$2"
        echo "ms=$(( $7 - $6 ))"
        echo "at=$6"
        echo "@@END run-$1.cmd rc=0@@"
    } >"$DATA"
}
errline() { tr '\n' ' ' <"${1:-/tmp/dp.err}" | cut -c1-300; }
outline() { tr '\n' ' ' <"${1:-/tmp/dp.out}" | cut -c1-300; }
# expect NAME "" BAD: ok when BAD is only blanks, else not ok with BAD
expect() {
    local why
    why=$(echo $3)
    if [ -z "$why" ]; then ok "$1"; else nok "$1" "$why"; fi
}

# ------------------------------------------------------------------ devices by identity
# blockdev_of ADDR: the nvme namespace (nvmeXnY) below the controller at ADDR
blockdev_of() {
    local b p
    for b in /sys/block/nvme*; do
        [ -e "$b" ] || continue
        p=$(readlink -f "$b/device/device")
        [ "${p##*/}" = "$1" ] && { echo "${b##*/}"; return 0; }
    done
    return 1
}
# wait_blockdev ADDR TRIES: blockdev_of, polling every 0.2 s at most TRIES times
wait_blockdev() {
    local i=0
    while [ "$i" -lt "$2" ]; do
        blockdev_of "$1" && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
# netif_of_mac MAC: the network interface with that address
netif_of_mac() {
    local n
    for n in /sys/class/net/*; do
        [ "$(cat "$n/address" 2>/dev/null)" = "$1" ] && { echo "${n##*/}"; return 0; }
    done
    return 1
}

# expect_refused LABEL PATTERN STATE: the last devpass run exited 1, its message matches
# PATTERN, and nothing changed since the snapshot STATE
expect_refused() {
    bad=
    [ "$rc" = 1 ] || bad="exit $rc"
    grep -qiE "$2" /tmp/dp.err || bad="$bad message does not name the reason (/$2/): $(errline)"
    left=$(changed_since "$3")
    [ -z "$left" ] || bad="$bad changed: $left"
    expect "$1" "" "$bad"
}

# ------------------------------------------------------------------ the binding state
# state: "ADDR DRIVER OVERRIDE" for every function ("-" for none), as drv_of/ovr_of say it.
# Four processes in all, not three per function: under TCG with six guests on two cores
# each fork costs tens of ms, and the critical boot takes several snapshots per case.
state() {
    local d
    for d in /sys/bus/pci/devices/*; do echo "${d##*/}"; done >/tmp/state.addrs
    ls -l /sys/bus/pci/devices/*/driver >/tmp/state.drv 2>/dev/null
    grep -H '' /sys/bus/pci/devices/*/driver_override >/tmp/state.ovr 2>/dev/null
    awk '
        FILENAME == "/tmp/state.drv" {
            n = split($(NF - 2), p, "/"); m = split($NF, t, "/"); drv[p[n - 1]] = t[m]; next
        }
        FILENAME == "/tmp/state.ovr" {
            i = index($0, "/driver_override:"); n = split(substr($0, 1, i - 1), p, "/")
            v = substr($0, i + 17); if (v != "" && v != "(null)") ovr[p[n]] = v; next
        }
        { print $1, ($1 in drv ? drv[$1] : "-"), ($1 in ovr ? ovr[$1] : "-") }
    ' /tmp/state.drv /tmp/state.ovr /tmp/state.addrs
}
# changed_since FILE [ADDR...]: the current state lines that differ from FILE, on one line,
# leaving out the given functions
changed_since() {
    local f=$1 a
    shift
    state >/tmp/state.now
    diff "$f" /tmp/state.now | grep '^+0' | sed 's/^+//' >/tmp/state.diff
    for a in "$@"; do
        grep -v "^$a " /tmp/state.diff >/tmp/state.diff2
        mv /tmp/state.diff2 /tmp/state.diff
    done
    tr '\n' ';' </tmp/state.diff
}
# state_restore WHAT: after a section, put every function back the way the setup left it
# (/tmp/state.0) with plain sysfs writes, so one failing section does not spoil the next;
# says so when it had to
state_restore() {
    local left a d o p
    left=$(changed_since /tmp/state.0)
    [ -z "$left" ] && return 0
    note "$1 left the state changed ($left); putting it back with sysfs writes"
    state >/tmp/state.now
    while read -r a d o; do
        grep -q "^$a $d $o\$" /tmp/state.now && continue
        p=/sys/bus/pci/devices/$a
        [ "$o" = - ] && o=
        echo "$o" >"$p/driver_override"
        [ -e "$p/driver" ] && echo "$a" >"$p/driver/unbind"
        [ "$d" != - ] && echo "$a" >/sys/bus/pci/drivers_probe
    done </tmp/state.0
    sleep 1
    left=$(changed_since /tmp/state.0)
    [ -n "$left" ] && note "still changed after the sysfs repair: $left"
}
