#!/bin/sh
# Runs inside the pools-boot guest (intel_iommu=on iommu=pt). Sets the guest up like the
# other boots (drivers, 2 SR-IOV VFs of the nvme 0000:02:00.0 driven by nvme), then puts
# the two VFs in a devpass pool and claims, releases, garbage-collects and quarantines them
# against the real kernel. Judged here: driver links, driver_override, /dev/vfio nodes,
# exit statuses and messages. Every devpass run is also sent to the host (run-NAME blocks)
# where check.py judges the JSON: pool members and their states, claims, exports.
#
# Every sysfs write here happens inside the guest.
T="vm[pools]"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

PF=0000:02:00.0            # nvme with SR-IOV
VF1=0000:02:00.1           # its VFs; VF1 without a driver_override,
VF2=0000:02:00.2           # VF2 keeps driver_override=nvme from setup_sriov
POOL=nvmevf
DP_TIMEOUT=120

data_open pools
check_root
setup_coldplug
setup_sriov 2 1
echo >"/sys/bus/pci/devices/$VF1/driver_override"

# ------------------------------------------------------------------ helpers
# on_vfio: the VFs now on vfio-pci, space-separated
on_vfio() {
    local v out=
    for v in $VF1 $VF2; do
        [ "$(drv_of "$v")" = vfio-pci ] && out="$out $v"
    done
    echo $out
}
# was VF: "DRIVER OVERRIDE" the setup left the VF with
was() { grep "^$1 " /tmp/state.0 | cut -d' ' -f2-; }
# claimed_ok NEWVF: what is wrong with NEWVF as the device a claim just bound
claimed_ok() {
    local g
    [ -n "$1" ] || { echo "no VF moved to vfio-pci"; return; }
    case $1 in *" "*) echo "more than one VF moved to vfio-pci: $1"; return ;; esac
    g=$(group_of "$1")
    [ -c "/dev/vfio/$g" ] || echo "no /dev/vfio/$g ($(ls /dev/vfio | tr '\n' ' '))"
    grep -q "$1" /tmp/dp.out || echo "the answer does not name $1: $(outline)"
}
# back_ok VF GROUP: what is wrong with VF after a release that restores it
back_ok() {
    local live
    [ "$(drv_of "$1") $(ovr_of "$1")" = "$(was "$1")" ] ||
        echo "$1 on $(drv_of "$1") override $(ovr_of "$1"), had $(was "$1")"
    [ ! -e "/dev/vfio/$2" ] || echo "/dev/vfio/$2 still there"
    live=$(wait_nvme_live "$1" 50)
    [ -n "$live" ] || echo "$1 not a live nvme controller after 10 s"
}
# failed_msg REGEX: the last run's message (stderr, or stdout for --json) matches REGEX
failed_msg() { cat /tmp/dp.err /tmp/dp.out | grep -qiE "$1"; }
# addr_in_json ADDR FILE: FILE has an "address" member with value ADDR
addr_in_json() { grep -qE "\"address\": *\"$1\"" "${2:-/tmp/dp.out}"; }
# new_vfio BEFORE: the VFs on vfio-pci now that were not in BEFORE
new_vfio() {
    local v out=
    for v in $(on_vfio); do
        case " $1 " in *" $v "*) ;; *) out="$out $v" ;; esac
    done
    echo $out
}

# ------------------------------------------------------------------ the setup's state
for v in $VF1 $VF2; do wait_nvme_live "$v" 50 >/dev/null; done
state >/tmp/state.0
bad=
[ "$(drv_of $PF)" = nvme ] || bad="PF on $(drv_of $PF)"
[ "$(was $VF1)" = "nvme -" ] || bad="$bad $VF1: $(was $VF1)"
[ "$(was $VF2)" = "nvme nvme" ] || bad="$bad $VF2: $(was $VF2)"
expect "setup: PF $PF and VFs $VF1 $VF2 on nvme ($VF2 with driver_override=nvme)" "" "$bad"
# the VFs' identity as sysfs has it, for check.py to hold the exports against
vf_facts() {
    local a d
    for a in $PF $VF1 $VF2; do
        d=/sys/bus/pci/devices/$a
        echo "$a vendor=$(cat $d/vendor) device=$(cat $d/device)" \
            "subsystem_vendor=$(cat $d/subsystem_vendor) subsystem_device=$(cat $d/subsystem_device)" \
            "class=$(cat $d/class) group=$(group_of $a) numa=$(cat $d/numa_node)" \
            "physfn=$(basename "$(readlink $d/physfn 2>/dev/null)" 2>/dev/null)" \
            "driver=$(drv_of $a) override=$(ovr_of $a)" \
            "reset=$(tr ' ' , <$d/reset_method 2>/dev/null)"
    done
    echo "hostname $(hostname)"
}
emit vf-facts vf_facts
emit state-0 cat /tmp/state.0
VFID=$(sed 's/^0x//' /sys/bus/pci/devices/$VF1/vendor):$(sed 's/^0x//' /sys/bus/pci/devices/$VF1/device)

HAVE_POOLS=0
if ! command -v devpass >/dev/null 2>&1; then
    nok "devpass: binary present in the guest" "build/devpass was not built when the image was made"
elif dp help-pool pool --help && dp help-claim claim --help; then
    HAVE_POOLS=1
    ok "devpass pool --help, claim --help: exit 0"
else
    nok "devpass pool --help, claim --help: exit 0" "exit $rc: $(errline)"
fi

# ================================================================== the pool
if [ "$HAVE_POOLS" = 1 ]; then
    dp create pool create $POOL --type sriov-vf --on-release restore --description "VFs of $PF"
    expect "pool create $POOL --type sriov-vf --on-release restore: exit 0, no device touched" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(changed_since /tmp/state.0)"
    dp rule-physfn pool rule add $POOL "physfn=$PF"
    expect "pool rule add $POOL 'physfn=$PF': exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
    dp show-physfn pool show $POOL --json
    # The VFs share their ids with the PF and with the plain nvme 01:00.0: a second rule
    # by id must not bring those into a pool of type sriov-vf.
    dp rule-id pool rule add $POOL "id=$VFID"
    expect "pool rule add $POOL 'id=$VFID': exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
    dp show-free pool show $POOL --json
    bad=
    for a in 0000:01:00.0 $PF; do addr_in_json $a && bad="$bad $a"; done
    if [ -n "$bad" ]; then
        nok "pool show $POOL after the id rule: only VFs (type sriov-vf)" "members include$bad; removing the rule"
        dp rule-rm pool rule rm $POOL "id=$VFID"
    fi
    dp show-free-text pool show $POOL
    note "pool show $POOL: $(outline)"
    dp list-free pool list --json
    expect "pool show / pool list (--json), no device touched" "" \
        "$(changed_since /tmp/state.0)"

    # ---------------------------------------------------------- exports (check.py judges)
    dp export-proxmox export proxmox --pool $POOL
    r1=$rc
    dp export-proxmox-json export proxmox --pool $POOL --json
    r2=$rc
    dp export-nova export nova
    r3=$rc
    dp export-nova-json export nova --json
    r4=$rc
    dp export-kubevirt export kubevirt
    expect "export proxmox --pool $POOL, export nova (text and --json), export kubevirt: exit 0" "" \
        "$([ "$r1/$r2/$r3/$r4/$rc" = 0/0/0/0/0 ] || echo "exits $r1/$r2/$r3/$r4/$rc: $(errline)")"

    # ---------------------------------------------------------- two claims, a third fails
    state >/tmp/state.1
    dp claim-vm1 claim $POOL --for vm1 --pid 0 --json
    C1=$(on_vfio)
    expect "claim $POOL --for vm1: exit 0, one VF ($C1) on vfio-pci with /dev/vfio/$(group_of "$C1"), named in the answer; nothing else touched" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(claimed_ok "$C1") $(changed_since /tmp/state.1 $C1)"
    dp claim-vm2 claim $POOL --for vm2 --pid 0 --json
    C2=$(new_vfio "$C1")
    expect "claim $POOL --for vm2: exit 0, the other VF ($C2) on vfio-pci with /dev/vfio/$(group_of "$C2"), named in the answer; nothing else touched" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(claimed_ok "$C2") $([ -n "$C1" ] && [ "$C1" != "$C2" ] || echo "same VF as vm1") $(changed_since /tmp/state.1 $C1 $C2)"
    G1=$(group_of "$C1"); G2=$(group_of "$C2")
    emit claims printf 'vm1 %s\nvm2 %s\n' "$C1" "$C2"
    state >/tmp/state.2
    dp show-claimed pool show $POOL --json
    dp show-claimed-text pool show $POOL
    bad=
    grep -q claimed /tmp/dp.out || bad="no 'claimed'"
    grep -q vm1 /tmp/dp.out && grep -q vm2 /tmp/dp.out || bad="$bad owners vm1/vm2 not shown"
    expect "pool show $POOL: both members claimed, by vm1 and vm2" "" "$bad $([ "$rc" = 0 ] || echo "exit $rc")"
    [ -n "$bad" ] && note "pool show: $(outline)"
    dp claim-vm3 claim $POOL --for vm3 --pid 0 --json
    expect "claim $POOL --for vm3 (both VFs taken): exit 1, says the pool has no free device, nothing changed" "" \
        "$([ "$rc" = 1 ] || echo "exit $rc") $(failed_msg 'no free|free device|not enough|no device|available' || echo "message: $(errline) $(outline)") $(changed_since /tmp/state.2)"
    note "claim with no free device: $(errline) $(outline)"
    dp show-after-fail pool show $POOL --json
    dp delete-busy pool delete $POOL
    expect "pool delete $POOL while claimed: exit 1, nothing changed" "" \
        "$([ "$rc" = 1 ] || echo "exit $rc") $(changed_since /tmp/state.2)"

    # ---------------------------------------------------------- releases restore
    dp release-vm1 release --for vm1 --json
    expect "release --for vm1: exit 0, $C1 back on $(was "$C1") (driver, override), a live nvme controller, /dev/vfio/$G1 gone; $C2 still claimed" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(back_ok "$C1" "$G1") $([ "$(drv_of "$C2")" = vfio-pci ] || echo "$C2 on $(drv_of "$C2")")"
    dp release-vm2 release --for vm2 --json
    expect "release --for vm2: exit 0, $C2 back on $(was "$C2") (driver, override), a live nvme controller, /dev/vfio/$G2 gone" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(back_ok "$C2" "$G2") $(changed_since /tmp/state.0)"
    dp show-released pool show $POOL --json
    dp release-none release --for vm1
    note "release --for vm1 again (nothing claimed): exit $rc: $(errline)"
    state_restore "claims and releases"

    # ---------------------------------------------------------- stale claims
    # both VFs claimed for a process that then dies: the next claim takes one over (it
    # stays on vfio-pci, its original driver is kept for the release), pool gc releases
    # the other
    sleep 600 &
    spid=$!
    dp claim-stale claim $POOL --for vmx --count 2 --pid $spid --json
    expect "claim $POOL --for vmx --count 2 --pid $spid (a sleep): exit 0, both VFs on vfio-pci" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ "$(on_vfio)" = "$VF1 $VF2" ] || echo "on vfio-pci: $(on_vfio)")"
    kill $spid; wait $spid 2>/dev/null
    dp show-stale pool show $POOL --json
    dp show-stale-text pool show $POOL
    expect "pool show $POOL after the claim's process died: both claims marked stale (JSON), text: process gone" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc") $([ "$(grep -ciE "stale|is gone" /tmp/dp.out)" -ge 2 ] || echo "not both said stale or gone: $(outline)")"
    state >/tmp/state.3
    dp claim-takeover claim $POOL --for vm-new --pid 0 --json
    CT=$(grep -o '0000:02:00\.[12]' /tmp/dp.out | head -n 1)
    CS=$VF1; [ "$CT" = $VF1 ] && CS=$VF2
    expect "claim $POOL --for vm-new with only stale claims left: exit 0, takes over ${CT:-?} (took_over), still on vfio-pci, nothing changed in sysfs" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -qE '"took_over": *true' /tmp/dp.out || echo "no took_over true: $(outline)") $(changed_since /tmp/state.3)"
    emit stale-claim printf 'vm-new %s 0\nvmx %s %s\n' "$CT" "$CS" "$spid"
    dp show-takeover pool show $POOL --json
    GT=$(group_of "$CT"); GS=$(group_of "$CS")
    dp release-takeover release --for vm-new
    expect "release --for vm-new: exit 0, the taken-over $CT back on $(was "$CT") (driver, override), /dev/vfio/$GT gone; $CS still held" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(back_ok "$CT" "$GT") $([ "$(drv_of "$CS")" = vfio-pci ] || echo "$CS on $(drv_of "$CS")")"
    dp gc pool gc
    expect "pool gc: exit 0, the stale claim released: $CS back on $(was "$CS") (driver, override), /dev/vfio/$GS gone" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(back_ok "$CS" "$GS") $(changed_since /tmp/state.0)"
    note "pool gc: $(outline) $(errline)"
    dp show-gc pool show $POOL --json
    state_restore "stale claims"

    # ---------------------------------------------------------- quarantine
    dp set-quarantine pool set $POOL --on-release quarantine
    expect "pool set $POOL --on-release quarantine: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
    dp claim-q claim $POOL --for vmq --count 2 --pid 0 --json
    expect "claim $POOL --for vmq --count 2: exit 0, both VFs on vfio-pci" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ "$(on_vfio)" = "$VF1 $VF2" ] || echo "on vfio-pci: $(on_vfio)")"
    dp release-q release --for vmq --json
    expect "release --for vmq (policy quarantine): exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
    note "after a quarantining release: $VF1 on $(drv_of $VF1) override $(ovr_of $VF1), $VF2 on $(drv_of $VF2) override $(ovr_of $VF2), /dev/vfio: $(ls /dev/vfio | tr '\n' ' ')"
    dp show-quarantined pool show $POOL --json
    dp show-quarantined-text pool show $POOL
    expect "pool show $POOL: both VFs quarantined" "" \
        "$([ "$(grep -c quarantined /tmp/dp.out)" -ge 2 ] || echo "$(outline)")"
    state >/tmp/state.3
    dp claim-q-fail claim $POOL --for vmq2 --pid 0
    expect "claim $POOL with every member quarantined: exit 1, nothing changed" "" \
        "$([ "$rc" = 1 ] || echo "exit $rc") $(changed_since /tmp/state.3)"
    note "claim with every member quarantined: $(errline)"
    dp clear-1 pool clear $VF1
    expect "pool clear $VF1: exit 0" "" "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)")"
    dp show-cleared pool show $POOL --json
    dp claim-q2 claim $POOL --for vmq2 --pid 0 --json
    expect "claim $POOL --for vmq2 after the clear: exit 0, gets $VF1 (the only claimable member), on vfio-pci" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(grep -q $VF1 /tmp/dp.out || echo "answer: $(outline)") $([ "$(drv_of $VF1)" = vfio-pci ] || echo "$VF1 on $(drv_of $VF1)")"
    # the original drivers must have outlived the quarantine
    dp set-restore pool set $POOL --on-release restore
    dp release-q2 release --for vmq2
    expect "release --for vmq2 (policy restore again): exit 0, $VF1 back on $(was $VF1) as before the quarantine" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(back_ok $VF1 "$(group_of $VF1)")"
    dp clear-2 pool clear $VF2
    dp claim-q3 claim $POOL --for vmq3 --address $VF2 --pid 0 --json
    r1=$rc
    dp release-q3 release --for vmq3
    expect "pool clear $VF2, claim --address $VF2, release: exit 0 each, $VF2 back on $(was $VF2) (driver, override) as before the quarantine" "" \
        "$([ "$r1/$rc" = 0/0 ] || echo "exits $r1/$rc: $(errline)") $(back_ok $VF2 "$(group_of $VF2)") $(changed_since /tmp/state.0)"
    dp show-final pool show $POOL --json
    state_restore "quarantine"

    # ---------------------------------------------------------- delete
    dp delete pool delete $POOL
    r1=$rc
    dp list-final pool list --json
    expect "pool delete $POOL: exit 0, pool list no longer has it, no device touched" "" \
        "$([ "$r1" = 0 ] || echo "exit $r1: $(errline)") $(grep -q "\"$POOL\"" /tmp/dp.out && echo "still listed") $(changed_since /tmp/state.0)"
fi

emit state-final state
emit dmesg dmesg
data_close
exit 0
