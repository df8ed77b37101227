#!/bin/sh
# Runs inside the two persist boots (tests/vm/run.sh persist): one machine, one writable
# root image, booted twice.
#
# Boot 1 (persist1): set up like the other boots (drivers coldplugged, 2 SR-IOV VFs driven
#   by nvme, a default route), then `devpass persist` four devices (the nvme 01:00.0, the
#   VF count of the SR-IOV PF 02:00.0, its VF 02:00.2, the e1000e 04:00.0), list them, run
#   `devpass check` and `devpass setup iommu --dry-run`, and check the files it wrote.
# Boot 2 (persist2): the same machine without the e1000e 04:00.0. Nothing is loaded by this
#   script: the real boot path brings the devices up - systemd-udevd from the image
#   (started the way Debian's initramfs-tools does without systemd), `udevadm trigger`,
#   `udevadm settle`, then, standing in for systemd, the ExecStart= of the unit devpass wrote
#   for every device whose udev properties pull it in (SYSTEMD_WANTS). Then: the persisted
#   bindings won against the host drivers, `devpass check` and `persist --list` report the
#   absent device, and `persist --remove --all` leaves /etc as it was before boot 1.
#
# Usage: guest-persist.sh persist1|persist2
mode=${1:-persist1}
boot=${mode#persist}
T="vm[persist] boot $boot:"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

NVME=0000:01:00.0          # nvme with a namespace, alone in its group
PF=0000:02:00.0            # nvme with SR-IOV: its VF count is persisted
VF1=0000:02:00.1
VF2=0000:02:00.2           # a VF persisted to vfio-pci
PASSDEV=0000:04:00.0       # e1000e, absent in boot 2
RULES=/etc/udev/rules.d/05-devpass.rules
UNIT=/etc/systemd/system/devpass-persist@.service
CONFD=/etc/devpass/persist.d
BEFORE=/var/tmp/persist-etc-before.txt   # /etc as boot 1 found it (kept on the image)
DP_TIMEOUT=120

# state: "ADDR DRIVER OVERRIDE NUMVFS" for every function
state() {
    local d a
    for d in /sys/bus/pci/devices/*; do
        a=${d##*/}
        echo "$a $(drv_of "$a") $(ovr_of "$a") $(cat "$d/sriov_numvfs" 2>/dev/null || echo -)"
    done
}
changed_since() {
    state >/tmp/state.now
    diff "$1" /tmp/state.now | grep '^+0' | sed 's/^+//' | tr '\n' ';'
}

# etc_listing: every path under the directories devpass may write to (and the ones it must
# not), with type, mode and a checksum of each file's bytes
etc_listing() {
    local f
    find /etc /usr/local /usr/lib/udev /usr/lib/systemd -print 2>/dev/null | sort | while read -r f; do
        if [ -L "$f" ]; then
            echo "$f link $(readlink "$f")"
        elif [ -f "$f" ]; then
            echo "$f file $(stat -c %a "$f") $(md5sum <"$f" | cut -d' ' -f1)"
        else
            echo "$f $(stat -c '%F %a' "$f")"
        fi
    done
}

# nvme_ctrl_of ADDR: the nvme controllers (nvmeN) whose device is ADDR
nvme_ctrl_of() {
    local c
    for c in /sys/class/nvme/nvme*; do
        [ -e "$c" ] || continue
        [ "$(basename "$(readlink -f "$c/device")")" = "$1" ] && echo "${c##*/}"
    done
}

# wanted_by_events: the instances of devpass-persist@.service that udev events recorded in
# /tmp/uevents.txt (udevadm monitor --udev --property) pull in for systemd: the event is not
# a remove, the device is currently tagged "systemd", SYSTEMD_WANTS names the unit
wanted_by_events() {
    awk 'BEGIN { RS = ""; FS = "\n" }
    {
        act = ""; tags = ""; cur = ""; w = ""; hascur = 0
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^ACTION=/) act = substr($i, 8)
            else if ($i ~ /^TAGS=/) tags = substr($i, 6)
            else if ($i ~ /^CURRENT_TAGS=/) { cur = substr($i, 14); hascur = 1 }
            else if ($i ~ /^SYSTEMD_WANTS=/) w = substr($i, 15)
        }
        if (!hascur) cur = tags    # udev before v247 has no CURRENT_TAGS
        if (act == "remove" || cur !~ /:systemd:/) next
        n = split(w, u, " ")
        for (j = 1; j <= n; j++)
            if (u[j] ~ /^devpass-persist@.*\.service$/) { sub(/^devpass-persist@/, "", u[j]); sub(/\.service$/, "", u[j]); print u[j] }
    }' /tmp/uevents.txt 2>/dev/null
}
# wanted_by_db: the same from each PCI device's udev db (udevadm info -q property)
wanted_by_db() {
    local d a
    for d in /sys/bus/pci/devices/*; do
        a=${d##*/}
        udevadm info -q property "$d" >/tmp/props 2>&1
        grep -q '^CURRENT_TAGS=.*:systemd:' /tmp/props || continue
        sed -n 's/^SYSTEMD_WANTS=//p' /tmp/props | tr ' ' '\n' | sed -n 's/^devpass-persist@\(.*\)\.service$/\1/p'
    done
}
wanted_instances() { { wanted_by_events; wanted_by_db; } | sort -u; }

start_udevd() {
    mkdir -p /run/udev
    /lib/systemd/systemd-udevd --daemon --resolve-names=never >/tmp/udevd.out 2>&1
}
stop_udevd() {
    udevadm control --exit >/dev/null 2>&1
}

# files_written: the three kinds of files `devpass persist` writes
files_written() {
    ls -la "$RULES" "$UNIT" 2>&1
    ls -la "$CONFD" 2>&1
    for f in "$RULES" "$UNIT" "$CONFD"/*; do
        [ -f "$f" ] || continue
        echo "== $f"
        cat "$f"
    done
}

data_open "$mode"
check_root
# what systemd creates as it boots (sd_booted()); /usr/bin/systemctl in the image only
# records its calls in /run/systemctl.log
mkdir -p /run/systemd/system
HAVE_PERSIST=0
if devpass persist --help >/dev/null 2>&1; then
    HAVE_PERSIST=1
else
    nok "devpass persist available" "\`devpass persist --help\` fails: $(devpass persist --help 2>&1 | head -n 2 | tr '\n' ' ')"
fi
if [ -x /usr/bin/udevadm ] && [ -e /lib/systemd/systemd-udevd ] && [ -f /lib/udev/rules.d/80-drivers.rules ]; then
    HAVE_UDEV=1
else
    HAVE_UDEV=0
    nok "udevadm, systemd-udevd and 80-drivers.rules in the image" "missing (prepare.sh could not get udev)"
fi

# ================================================================== boot 1
if [ "$boot" = 1 ]; then
    etc_listing >"$BEFORE"
    emit etc-before cat "$BEFORE"
    setup_coldplug
    setup_sriov 2 1
    setup_net
    # a host runs udevd: `devpass persist` asks it to reload its rules
    if [ "$HAVE_UDEV" = 1 ]; then
        start_udevd || note "systemd-udevd --daemon failed: $(cat /tmp/udevd.out)"
    fi
    state >/tmp/state.0
    emit state-setup cat /tmp/state.0

    if [ "$HAVE_PERSIST" = 1 ]; then
        # persist_one NAME WHAT ARGS...: devpass persist ARGS exits 0, writes its files and
        # changes no binding now
        persist_one() {
            local name=$1 what=$2 left bad
            shift 2
            dp "$name" persist "$@"
            bad=
            [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
            left=$(changed_since /tmp/state.0)
            [ -z "$left" ] || bad="$bad changed now: $left"
            for f in "$RULES" "$UNIT"; do [ -f "$f" ] || bad="$bad no $f"; done
            expect "persist $* ($what): exit 0, rules and unit written, no binding changed this boot" "" "$bad"
            [ -s /tmp/dp.err ] && note "persist $*: stderr: $(errline)"
        }
        persist_one persist-nvme "nvme with a namespace" $NVME
        persist_one persist-vfs "SR-IOV PF, VF count" $PF --vfs 2
        persist_one persist-vf "VF to vfio-pci" $VF2
        persist_one persist-passdev "e1000e, absent on boot 2" $PASSDEV

        confs=$(ls "$CONFD" 2>/dev/null | tr '\n' ' ')
        bad=
        [ "$(ls "$CONFD" 2>/dev/null | wc -l)" = 4 ] || bad="not 4 files;"
        for a in $NVME $VF2 $PASSDEV; do
            grep -qsx "address=$a" "$CONFD/pci-$a.conf" || bad="$bad no pci-$a.conf with address=$a;"
            grep -qsx 'driver=vfio-pci' "$CONFD/pci-$a.conf" || bad="$bad pci-$a.conf has no driver=vfio-pci;"
        done
        # the VF count rule has a name of its own (a PF may have a binding rule too)
        f=$(grep -lx "address=$PF" "$CONFD"/pci-"$PF"*.conf 2>/dev/null | head -n 1)
        if [ -z "$f" ]; then
            bad="$bad no pci-$PF*.conf with address=$PF;"
        else
            grep -qx 'sriov_numvfs=2' "$f" || bad="$bad ${f##*/} has no sriov_numvfs=2;"
            grep -q '^driver=' "$f" && bad="$bad ${f##*/} has a driver= line;"
        fi
        expect "$CONFD: one address rule per device (driver=vfio-pci; sriov_numvfs=2 for $PF): $confs" "" "$bad"
        expect "persist ran systemctl daemon-reload" "" \
            "$(grep -qx 'systemctl daemon-reload' /run/systemctl.log 2>/dev/null || echo "systemctl calls: $(tr '\n' ';' </run/systemctl.log 2>/dev/null)")"
        bad=
        for a in $NVME $PF $VF2 $PASSDEV; do
            grep -q "$a" "$RULES" 2>/dev/null || bad="$bad $RULES does not name $a;"
        done
        grep -qs 'SYSTEMD_WANTS' "$RULES" || bad="$bad no SYSTEMD_WANTS in $RULES;"
        grep -qs '^ExecStart=.*/usr/local/bin/devpass persist --apply %[iI]' "$UNIT" || bad="$bad $UNIT: $(grep ExecStart "$UNIT" 2>/dev/null)"
        expect "$RULES names every device and pulls the unit; $UNIT runs /usr/local/bin/devpass persist --apply" "" "$bad"
        emit files-boot1 files_written

        dp list-boot1 persist --list
        note "persist --list: exit $rc"
        sed "s/^/# $T   /" /tmp/dp.out
        dp list-json-boot1 persist --list --json
        dp check-boot1 check
        c1=$rc
        dp check-json-boot1 check --json
        bad=
        [ "$rc" = "$c1" ] || bad="check exit $c1, check --json exit $rc;"
        # every persisted device is here but on its host driver this boot
        pb=$(grep -iE 'persist' /tmp/dp.out | tr '\n' ' ')
        for a in $NVME $VF2 $PASSDEV; do
            grep -q "$a" /tmp/dp.out || bad="$bad check --json does not name $a;"
        done
        expect "check: persisted bindings reported, not active this boot (exit $c1)" "" "$bad"
        sed -n '/persist/Ip' /tmp/dp.out | head -n 8 | sed "s/^/# $T   /"
        dp setup-dry setup iommu --dry-run
        note "setup iommu --dry-run (no boot loader config in the guest): exit $rc: $(outline) $(errline)"
        left=$(changed_since /tmp/state.0)
        expect "no binding changed by persist/list/check/setup --dry-run" "" "$left"
    fi
    stop_udevd
    emit etc-after-boot1 etc_listing
    sync

# ================================================================== boot 2
else
    pre=$(lsmod | awk 'NR > 1 {print $1}' | grep -E '^(nvme|nvme_core|vfio|vfio_pci|vfio_pci_core|e1000e|e1000)$' | tr '\n' ' ')
    expect "before udevd: no nvme/vfio/e1000e module loaded by the guest" "" "${pre:+loaded: $pre}"
    if [ "$HAVE_UDEV" = 1 ]; then
        t0=$(now_ms)
        if start_udevd; then
            udevadm monitor --udev --property --subsystem-match=pci >/tmp/uevents.txt 2>&1 &
            monpid=$!
            # it prints its header once it listens
            i=0
            while ! grep -q '^UDEV - ' /tmp/uevents.txt 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            udevadm trigger --type=subsystems --action=add >/tmp/trigger.out 2>&1
            udevadm trigger --type=devices --action=add >>/tmp/trigger.out 2>&1
            udevadm settle --timeout=120 >>/tmp/trigger.out 2>&1
            src=$?
            t1=$(now_ms)
            expect "systemd-udevd --daemon, udevadm trigger (subsystems, devices), settle ($((t1 - t0)) ms)" "" \
                "$([ "$src" = 0 ] || echo "settle exit $src: $(tr '\n' ' ' </tmp/trigger.out | cut -c1-300)")"
        else
            nok "systemd-udevd --daemon" "$(tr '\n' ' ' </tmp/udevd.out | cut -c1-300)"
        fi
    fi
    state >/tmp/state.udev
    emit udev-props-nvme udevadm info -q property /sys/bus/pci/devices/$NVME
    emit udev-db ls -la /run/udev /run/udev/data
    emit state-after-udev cat /tmp/state.udev
    mods=$(lsmod | awk 'NR > 1 {print $1}' | tr '\n' ' ')
    bad=
    for m in nvme e1000e e1000 vfio_pci; do
        case " $mods " in *" $m "*) ;; *) bad="$bad $m not loaded;" ;; esac
    done
    expect "udev loaded the drivers from the modaliases (nvme, e1000e, e1000) and vfio_pci" "" "$bad"
    note "modules after settle: $mods"
    note "after settle: $NVME $(drv_of $NVME) override $(ovr_of $NVME); $PF $(drv_of $PF) numvfs $(cat /sys/bus/pci/devices/$PF/sriov_numvfs 2>/dev/null)"
    expect "after settle, before any unit ran: $NVME already on vfio-pci (the udev rule set driver_override)" "" \
        "$([ "$(drv_of $NVME)" = vfio-pci ] || echo "driver $(drv_of $NVME), override $(ovr_of $NVME)")"

    # ---------------------------------------------------------- systemd, emulated
    # systemd (PID 1) listens to udev's events: a device event that carries the tag
    # "systemd" (CURRENT_TAGS) and SYSTEMD_WANTS=devpass-persist@X.service starts that unit
    # instance. Stand-in: every such event recorded by `udevadm monitor` since udevd started
    # (the db after settle may have lost them: a rule scoped to ACTION=="add" is not applied
    # to the "bind" event that follows when a driver binds), plus every device whose udev
    # db (`udevadm info -q property`) still names the unit. Each instance runs the ExecStart=
    # of the unit devpass wrote, %i/%I replaced by the instance. Devices that appear meanwhile
    # (the VFs once the PF's VF count is written) get theirs after another settle, as systemd
    # starts the unit when their device appears.
    execstart=$(sed -n 's/^ExecStart=//p' "$UNIT" 2>/dev/null | head -n 1)
    execstart=$(echo "$execstart" | sed 's/^[-@+!:]*//')
    started=
    units_bad=
    if [ -z "$execstart" ]; then
        nok "$UNIT has an ExecStart=" "$(ls -la "$UNIT" 2>&1)"
    else
        round=0
        while [ $round -lt 4 ]; do
            round=$((round + 1))
            new=0
            for a in $(wanted_instances); do
                case " $started " in *" $a "*) continue ;; esac
                cmd=$(echo "$execstart" | sed "s/%[iI]/$a/g")
                t0=$(now_ms)
                timeout "$DP_TIMEOUT" $cmd >/tmp/unit.out 2>/tmp/unit.err
                urc=$?
                send_run "unit-$a" "$cmd" "$urc" /tmp/unit.out /tmp/unit.err "$t0" "$(now_ms)"
                note "devpass-persist@$a.service: $cmd -> exit $urc $(errline /tmp/unit.err)"
                [ "$urc" = 0 ] || units_bad="$units_bad $a: exit $urc $(errline /tmp/unit.err);"
                started="$started $a"
                new=1
            done
            [ "$new" = 0 ] && break
            udevadm settle --timeout=60 >/dev/null 2>&1
        done
        started=$(for a in $started; do echo "$a"; done | sort | tr '\n' ' ')
        started=$(echo $started)
        want="$NVME $PF $VF2"
        [ "$started" = "$want" ] || units_bad="$units_bad units started for '$started', want '$want';"
        expect "devpass-persist@.service (its ExecStart=) pulled in through udev for exactly $want, each exit 0" "" "$units_bad"
        note "pulled in by events: $(wanted_by_events | sort -u | tr '\n' ' ')/ by the udev db after settle: $(wanted_by_db | tr '\n' ' ')"
    fi
    udevadm settle --timeout=60 >/dev/null 2>&1
    [ -n "${monpid:-}" ] && kill "$monpid" 2>/dev/null
    emit uevents cat /tmp/uevents.txt

    # ---------------------------------------------------------- the persisted bindings won
    g=$(group_of $NVME)
    ctrls=$(nvme_ctrl_of $NVME | tr '\n' ' ')
    dm=$(dmesg | grep -E "nvme.*$NVME" | head -n 3 | tr '\n' ' ')
    bad=
    [ "$(drv_of $NVME)" = vfio-pci ] || bad="driver $(drv_of $NVME);"
    [ -c "/dev/vfio/$g" ] || bad="$bad no /dev/vfio/$g;"
    [ -z "$ctrls" ] || bad="$bad nvme controller $ctrls on it;"
    [ -z "$dm" ] || bad="$bad dmesg: $dm"
    expect "$NVME on vfio-pci (/dev/vfio/$g); the nvme driver never bound it (no controller, no dmesg line)" "" "$bad"
    expect "the nvme module is loaded (udev loaded it for $PF) and drives $PF" "" \
        "$(lsmod | grep -q '^nvme ' || echo "nvme not loaded;") $([ "$(drv_of $PF)" = nvme ] || echo "$PF driver $(drv_of $PF)")"
    nv=$(cat /sys/bus/pci/devices/$PF/sriov_numvfs 2>/dev/null)
    expect "$PF has sriov_numvfs=2 again ($VF1, $VF2 exist)" "" \
        "$([ "$nv" = 2 ] || echo "sriov_numvfs '$nv'") $([ -e /sys/bus/pci/devices/$VF2 ] || echo "no $VF2")"
    expect "$VF2 on vfio-pci" "" "$([ "$(drv_of $VF2)" = vfio-pci ] || echo "driver $(drv_of $VF2), override $(ovr_of $VF2)")"
    note "$VF1 (not persisted): driver $(drv_of $VF1), override $(ovr_of $VF1); nvme probed $VF2 before its unit ran: $(dmesg | grep -cE "nvme.*pci function $VF2") time(s) (the kernel probes a new VF before udev sees it)"
    expect "$PASSDEV absent from this boot" "" "$([ -e /sys/bus/pci/devices/$PASSDEV ] && echo "present")"
    state >/tmp/state.units
    emit state-after-units cat /tmp/state.units
    emit dmesg-nvme sh -c 'dmesg | grep -iE "nvme|vfio|devpass" | tail -n 80'

    if [ "$HAVE_PERSIST" = 1 ]; then
        dp check-boot2 check
        c2=$rc
        cp /tmp/dp.out /tmp/check2.txt
        dp check-json-boot2 check --json
        bad=
        [ "$c2" = 0 ] || bad="exit $c2: $(grep -E 'FAIL' /tmp/check2.txt | head -n 3 | tr '\n' ' ');"
        grep -E "WARN.*$PASSDEV|$PASSDEV.*(absent|not present|missing)" /tmp/check2.txt >/dev/null ||
            bad="$bad text names no WARN for $PASSDEV: $(grep -i persist /tmp/check2.txt | tr '\n' ' ' | cut -c1-300);"
        expect "check: WARN for the absent $PASSDEV rule (named), not fatal (exit 0)" "" "$bad"
        grep -iE "persist|$PASSDEV" /tmp/check2.txt | head -n 6 | sed "s/^/# $T   /"

        dp list-boot2 persist --list
        sed "s/^/# $T   /" /tmp/dp.out
        dp list-json-boot2 persist --list --json
        bad=
        [ "$rc" = 0 ] || bad="exit $rc: $(errline);"
        expect "persist --list --json: exit 0 (states judged by check.py)" "" "$bad"

        state >/tmp/state.2
        dp remove-all persist --remove --all
        bad=
        [ "$rc" = 0 ] || bad="exit $rc: $(errline);"
        for f in "$RULES" "$UNIT"; do [ -e "$f" ] && bad="$bad $f still there;"; done
        [ -n "$(ls "$CONFD" 2>/dev/null)" ] && bad="$bad $CONFD: $(ls "$CONFD" | tr '\n' ' ');"
        [ "$(tail -n 1 /run/systemctl.log 2>/dev/null)" = "systemctl daemon-reload" ] ||
            bad="$bad no systemctl daemon-reload after the unit went: $(tr '\n' ';' </run/systemctl.log 2>/dev/null);"
        expect "persist --remove --all: exit 0, rules file, unit and persist.d rules gone" "" "$bad"
        etc_listing >/tmp/etc-after.txt
        emit etc-after-remove cat /tmp/etc-after.txt
        d=$(diff "$BEFORE" /tmp/etc-after.txt | grep '^[-+]/' | head -n 10 | tr '\n' ' ')
        expect "after remove --all: /etc, /usr/local, /usr/lib/udev, /usr/lib/systemd exactly as before boot 1 (paths, modes, bytes)" "" "$d"
        note "after remove --all: $NVME $(drv_of $NVME), $VF2 $(drv_of $VF2), numvfs $(cat /sys/bus/pci/devices/$PF/sriov_numvfs); changed by remove: $(changed_since /tmp/state.2)"
    fi
    stop_udevd
fi
data_close
exit 0
