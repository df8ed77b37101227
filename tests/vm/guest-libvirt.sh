#!/bin/sh
# Runs inside the libvirt-boot guest (tests/vm/run.sh libvirt: the vm boot's machine, -cpu max
# so kvm_amd gives the guest /dev/kvm, 2 vCPUs, 1.75 GB). Sets the guest up like the vm boot
# (drivers, 2 SR-IOV VFs of the nvme 02:00.0 driven by nvme), starts a root libvirtd (the
# image's, configured by prepare.sh) and runs devpass's libvirt integration against it:
#
#  1. libvirt alone: libvirtd comes up, domain d1 (q35, the nested kernel + initramfs of the
#     vm boot, no disk, serial to a file) is defined with a hand-written <hostdev
#     managed='no'> of a VF bound by bare sysfs writes, `virsh start` and `virsh destroy`
#     work with it; a logging hook in /etc/libvirt/hooks/qemu.d sees prepare, start,
#     started, stopped, release
#  2. devpass: `libvirt install-hook`, libvirtd restarted, a pool of the two VFs,
#     `libvirt attach d1 --pool`, `virsh dumpxml d1` has the hostdev, `virsh start d1`: the
#     nested guest lists the VF; `virsh destroy d1`: the hook gave the VF back (nvme, no
#     claim); `virsh start d1` again: the hook claims it again; d2 asking for the VF d1 holds:
#     `virsh start d2` refused with the hook's message; `libvirt detach d1`
#  3. the attach timing: `devpass libvirt attach d1 --pool` (command to defined domain) next
#     to `virsh attach-device --config` of the same element, `# vm[libvirt] bench` lines
#  4. refusals: an unknown domain, libvirtd stopped
#
# Judged here: driver links, /dev/vfio, the domain XML, the serial logs, the hook log,
# `devpass claim --list`, exit statuses and messages. Every devpass and virsh run also goes
# to the host (run-NAME blocks), where check.py validates the domain XML against libvirt's
# schema. A devpass command that does not exist yet is a `not ok`, never a skip.
T="vm[libvirt]"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

PF=0000:02:00.0            # nvme with SR-IOV
VF1=0000:02:00.1
VF2=0000:02:00.2
POOL=nvmevf
DP_TIMEOUT=120
NESTED_WAIT=240            # seconds a nested guest may take to print NESTED-READY
LV=/run/lv                 # serial logs, hook log, XML files
HOOKLOG=$LV/hook.log
BENCH_RUNS=3
DATE=/usr/libexec/devpass-vm/coreutils/date   # coreutils: %N (busybox's date has none)
for arg in $(cat /proc/cmdline); do
    case $arg in
        devpass_vm_wait=*) NESTED_WAIT=${arg#devpass_vm_wait=} ;;
        devpass_lv_runs=*) BENCH_RUNS=${arg#devpass_lv_runs=} ;;
    esac
done
mkdir -p $LV

data_open libvirt
check_root
setup_coldplug
setup_sriov 2 1
echo >"/sys/bus/pci/devices/$VF1/driver_override"
if modprobe kvm_amd 2>/dev/null && [ -c /dev/kvm ]; then
    DOMTYPE=kvm
    ok "kvm: kvm_amd loaded, /dev/kvm present: the domains are type kvm (nested KVM in the TCG guest)"
else
    DOMTYPE=qemu
    note "kvm: no /dev/kvm (kvm_amd: $(modprobe kvm_amd 2>&1)); the domains are type qemu (TCG in TCG: slow)"
fi
for v in $VF1 $VF2; do wait_nvme_live "$v" 50 >/dev/null; done
state >/tmp/state.0
emit state-0 cat /tmp/state.0
ids_of() { echo "$(sed 's/^0x//' "/sys/bus/pci/devices/$1/vendor"):$(sed 's/^0x//' "/sys/bus/pci/devices/$1/device")"; }
VFID=$(ids_of $VF1)

# ------------------------------------------------------------------ helpers
ms_now() { echo $(( $($DATE +%s%N) / 1000000 )); }
# vsh NAME ARGS...: run `virsh ARGS` (60 s at most); out/err in /tmp/vsh.out, /tmp/vsh.err,
# the status in $vrc; sent to the host as run-NAME
vsh() {
    local name=$1 t0
    shift
    t0=$(now_ms)
    timeout 60 virsh "$@" >/tmp/vsh.out 2>/tmp/vsh.err
    vrc=$?
    send_run "$name" "virsh $*" "$vrc" /tmp/vsh.out /tmp/vsh.err "$t0" "$(now_ms)"
    [ "$vrc" = 124 ] && stuck "$name"
    return $vrc
}
# stuck NAME: what libvirtd, its hooks, devpass and QEMU are doing (kernel stacks, the
# tail of libvirtd's log), sent as stuck-NAME, after a virsh run timed out
stuck() {
    note "virsh $1 timed out after 60 s; the processes' stacks go to the host as stuck-$1"
    emit "stuck-$1" sh -c 'for p in /proc/[0-9]*; do c=$(tr "\0" " " <$p/cmdline 2>/dev/null); case $c in *devpass*|*qemu*|*libvirtd*|*hook*) echo "== ${p#/proc/} $(cut -d" " -f3 $p/stat) $c"; cat $p/stack 2>/dev/null | head -n 12;; esac; done; tail -n 30 /var/log/libvirt/libvirtd.log'
}
# lv_start: libvirtd -d, then wait (90 s: it probes QEMU first) until virsh answers on qemu:///system
lv_start() {
    local i=0
    libvirtd -d >$LV/libvirtd.out 2>&1 || return 1
    while [ $i -lt 450 ]; do
        virsh -c qemu:///system version >/tmp/lv-version.txt 2>&1 && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
# lv_stop: SIGTERM to the daemon, wait (20 s) until it is gone
lv_stop() {
    local pid i=0
    pid=$(cat /run/libvirtd.pid 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        [ $i -ge 200 ] && { kill -KILL "$pid"; sleep 0.5; return 1; }
        sleep 0.1; i=$((i + 1))
    done
    rm -f /run/libvirtd.pid
}
# domain_xml NAME [HOSTDEV_FILE]: a small q35 domain booting the nested kernel + initramfs
# (no disk, no network, no display), its serial console written to $LV/NAME.serial
domain_xml() {
    cat <<EOF
<domain type='$DOMTYPE'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>/vm/vmlinuz</kernel>
    <initrd>/vm/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet devpass_nested=stay</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='$LV/$1.serial'/><target port='0'/></serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
$([ -n "${2:-}" ] && cat "$2")
  </devices>
</domain>
EOF
}
# wait_serial NAME PATTERN SECONDS: poll the domain's serial log; sets waited_ms
wait_serial() {
    local t0 n=0
    t0=$(now_ms)
    while ! grep -q "$2" "$LV/$1.serial" 2>/dev/null; do
        n=$((n + 1))
        [ $((n / 2)) -ge "$3" ] && { waited_ms=$(( $(now_ms) - t0 )); return 1; }
        sleep 0.5
    done
    waited_ms=$(( $(now_ms) - t0 ))
}
domstate() { timeout 60 virsh domstate "$1" 2>/dev/null | head -n 1; }
# hook_missing DOMAIN "OP SUBOP"...: which of these calls the logging hook never saw for DOMAIN
hook_missing() {
    local d=$1 w
    shift
    for w in "$@"; do grep -q "^$d $w" $HOOKLOG 2>/dev/null || printf '%s; ' "$w"; done
}
# taken_vf: the pool's VF on vfio-pci now, or nothing
taken_vf() {
    local v
    for v in $VF1 $VF2; do [ "$(drv_of $v)" = vfio-pci ] && { echo $v; return 0; }; done
    return 1
}
alias_of() { echo "ua-devpass-pci-$(echo "$1" | tr ':.' '--')"; }
# hostdev_of NAME FILE: the <hostdev> elements of NAME's persistent XML into FILE
hostdev_of() {
    virsh dumpxml --inactive "$1" 2>/dev/null |
        awk '/<hostdev /{on=1} on{print} /<\/hostdev>/{on=0}' >"$2"
}
# claims_text: `devpass claim --list` as text ("No claims." when there are none)
claims_text() { timeout 60 devpass claim --list 2>&1; }
# vf_back VF: what is wrong with VF after its claim ended ("" = nvme drives it, no claim left)
vf_back() {
    [ "$(drv_of "$1")" = nvme ] || echo "$1 on $(drv_of "$1");"
    claims_text >/tmp/claims.txt
    grep -q '^No claims' /tmp/claims.txt || echo "claims left: $(tr '\n' ' ' </tmp/claims.txt | cut -c1-200);"
}
# vf_back_within SECONDS VF: poll (0.1 s) until VF is on nvme, then vf_back; sets rel_ms
vf_back_within() {
    local t0 i=0
    t0=$(now_ms)
    while [ "$(drv_of "$2")" != nvme ] && [ $i -lt $(($1 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    rel_ms=$(( $(now_ms) - t0 ))
    [ -z "$(vf_back "$2")" ]
}

# ================================================================== 1. libvirt alone
cat >/etc/libvirt/hooks/qemu.d/00-log <<'EOF'
#!/bin/sh
# the harness's logging hook: one line per call, the domain XML on stdin ignored
echo "$*" >>/run/lv/hook.log
cat >/dev/null
exit 0
EOF
chmod 0755 /etc/libvirt/hooks/qemu.d/00-log
t0=$(now_ms)
if lv_start; then
    ok "libvirtd -d: qemu:///system answers after $(( $(now_ms) - t0 )) ms ($(grep -i 'running hypervisor' /tmp/lv-version.txt | tr -s ' '))"
else
    nok "libvirtd -d: qemu:///system answers" "$(tr '\n' ' ' </tmp/lv-version.txt | cut -c1-200) libvirtd: $(tr '\n' ' ' <$LV/libvirtd.out | cut -c1-200) log: $(tail -n 3 /var/log/libvirt/libvirtd.log 2>/dev/null | tr '\n' ' ' | cut -c1-300)"
fi
domain_xml d1 >$LV/d1.xml
vsh d1-define define $LV/d1.xml
expect "virsh define d1 (type $DOMTYPE, q35, the nested kernel and initramfs)" "" \
    "$([ "$vrc" = 0 ] || echo "exit $vrc: $(errline /tmp/vsh.err)")"
# the machine can pass a VF to a libvirt domain at all: VF1 bound to vfio-pci by bare sysfs
# writes, a hand-written <hostdev managed='no'> added with virsh (so a failure further down
# is devpass's, not this machine's)
cat >$LV/hand-hostdev.xml <<EOF
<hostdev mode='subsystem' type='pci' managed='no'>
  <source><address domain='0x0000' bus='0x02' slot='0x00' function='0x1'/></source>
</hostdev>
EOF
sysfs_bind() {
    local p=/sys/bus/pci/devices/$1
    echo "$2" >"$p/driver_override"
    [ -e "$p/driver" ] && echo "$1" >"$p/driver/unbind"
    echo "$1" >/sys/bus/pci/drivers_probe
}
sysfs_bind $VF1 vfio-pci
vsh d1-hand-attach attach-device d1 $LV/hand-hostdev.xml --config
vsh d1-start-plain start d1
# QEMU opened the VF (libvirt's start fails otherwise); the nested guest's view of it is
# checked once, with devpass's element below, to keep the boot short
expect "virsh start d1 with $VF1 (sysfs-bound, a hand-written hostdev): exit 0, running" "" \
    "$([ "$vrc" = 0 ] || echo "exit $vrc: $(errline /tmp/vsh.err)") $([ "$(domstate d1)" = running ] || echo "d1 $(domstate d1); qemu log: $(tail -n 3 /var/log/libvirt/qemu/d1.log 2>/dev/null | tr '\n' ';' | cut -c1-300)")"
emit serial-d1-plain cat $LV/d1.serial
vsh d1-destroy-plain destroy d1
expect "virsh destroy d1: exit 0, shut off" "" \
    "$([ "$vrc" = 0 ] || echo "exit $vrc: $(errline /tmp/vsh.err)") $([ "$(domstate d1)" = "shut off" ] || echo "state $(domstate d1)")"
vsh d1-hand-detach detach-device d1 $LV/hand-hostdev.xml --config
sysfs_bind $VF1 nvme
echo >"/sys/bus/pci/devices/$VF1/driver_override"
wait_nvme_live $VF1 100 >/dev/null
miss=$(hook_missing d1 "prepare begin" "start begin" "started begin" "stopped end" "release end")
expect "the logging hook in /etc/libvirt/hooks/qemu.d saw d1's prepare, start, started, stopped and release" "" \
    "$([ -n "$miss" ] && echo "missing: $miss hook log: $(tr '\n' ';' <$HOOKLOG 2>/dev/null | cut -c1-300)")"
state_restore "libvirt alone"

# ================================================================== 2. devpass
HAVE_LV=0
if ! command -v devpass >/dev/null 2>&1; then
    nok "devpass: binary present in the guest" "build/devpass was not built when the image was made"
elif devpass libvirt --help >/tmp/lvhelp.txt 2>&1; then
    HAVE_LV=1
    ok "devpass libvirt --help: exit 0"
else
    nok "devpass libvirt --help: exit 0" "$(tr '\n' ' ' </tmp/lvhelp.txt | cut -c1-200)"
fi
if [ "$HAVE_LV" = 0 ]; then
    for t in "libvirt install-hook: an executable /etc/libvirt/hooks/qemu.d/devpass" \
             "libvirt attach d1 --pool $POOL: a VF claimed for d1, on vfio-pci, in d1's definition" \
             "virsh start d1: the nested guest lists the pool's VF" \
             "virsh destroy d1: the hook gave the VF back (nvme, no claim)" \
             "virsh start d1 after the release: the hook claims the VF again" \
             "virsh start d2 with the VF d1 holds: refused with the hook's message" \
             "libvirt detach d1: the hostdev gone, the VF back" \
             "libvirt attach to an unknown domain: refused, nothing changed" \
             "libvirt attach with libvirtd stopped: refused, says how to start it" \
             "bench: libvirt attach d1 --pool $POOL timed"; do
        nok "$t" "devpass libvirt not available"
    done
    lv_stop
    emit libvirtd-log cat /var/log/libvirt/libvirtd.log
    emit hook-log cat $HOOKLOG
    emit state-final state
    data_close
    exit 0
fi

# ---------------------------------------------------------- install-hook
dp install-hook libvirt install-hook
H=/etc/libvirt/hooks/qemu.d/devpass
expect "libvirt install-hook: exit 0, $H an executable regular file running devpass libvirt hook" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ -f $H ] && [ -x $H ] || echo "$H missing or not executable") $(grep -q 'libvirt hook' $H 2>/dev/null || echo "$H does not run 'devpass libvirt hook'")"
emit hook-script cat $H
lv_stop
t0=$(now_ms)
lv_start || nok "libvirtd restarted (hooks are read at daemon start)" "$(tail -n 3 /var/log/libvirt/libvirtd.log | tr '\n' ' ')"
note "libvirtd restarted in $(( $(now_ms) - t0 )) ms"

dp pool-create pool create $POOL --type sriov-vf --on-release restore --description "VFs of $PF"
dp pool-rule pool rule add $POOL "physfn=$PF"
expect "pool $POOL of the VFs of $PF (--on-release restore)" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(changed_since /tmp/state.0)"

# ---------------------------------------------------------- node devices
# libvirt's nodedev driver and `devpass show --format libvirt` on the same functions (a VF,
# its PF, the e1000e): check.py compares them field by field
for a in $VF1 $PF 0000:04:00.0; do
    n=pci_$(echo $a | tr ':.' '__')
    vsh nodedev-virsh-$n nodedev-dumpxml $n
    dp nodedev-devpass-$n show $a --format libvirt
done

# ---------------------------------------------------------- attach, start, destroy
dp attach-1 libvirt attach d1 --pool $POOL
AT_RC=$rc
VF=$(taken_vf)
vsh d1-dumpxml-1 dumpxml --inactive d1
cp /tmp/vsh.out $LV/d1-attached.xml
emit d1-attached-xml cat $LV/d1-attached.xml
bad=
[ "$AT_RC" = 0 ] || bad="exit $AT_RC: $(errline);"
if [ -z "$VF" ]; then
    bad="$bad no VF of $POOL on vfio-pci;"
else
    [ -c "/dev/vfio/$(group_of $VF)" ] || bad="$bad /dev/vfio/$(group_of $VF) missing;"
    b=$(echo "${VF#0000:}" | cut -d: -f1) f=${VF##*.}
    grep -q "<address domain='0x0000' bus='0x$b' slot='0x00' function='0x$f'/>" $LV/d1-attached.xml ||
        bad="$bad d1's definition has no hostdev source 0000:$b:00.$f;"
    grep -q "alias name='$(alias_of $VF)'" $LV/d1-attached.xml || bad="$bad no alias $(alias_of $VF);"
    grep -q "managed='no'" $LV/d1-attached.xml || bad="$bad the hostdev is not managed='no';"
    claims_text >/tmp/claims.txt
    grep -q "d1" /tmp/claims.txt || bad="$bad claim --list does not name d1: $(tr '\n' ' ' </tmp/claims.txt | cut -c1-200);"
fi
bad="$bad $(changed_since /tmp/state.0 $VF)"
expect "libvirt attach d1 --pool $POOL: exit 0, ${VF:-a VF} claimed for d1 and on vfio-pci, virsh dumpxml d1 has its <hostdev> (managed='no', alias $(alias_of ${VF:-0000:02:00.x})), nothing else changed" "" "$bad"
dp attach-1-claims claim --list
dp attach-1-list list -s "${VF#0000:}"

rm -f $LV/d1.serial
vsh d1-start start d1
bad=
[ "$vrc" = 0 ] || bad="virsh start exit $vrc: $(errline /tmp/vsh.err);"
if [ -z "$bad" ] && wait_serial d1 '^NESTED-READY' "$NESTED_WAIT"; then
    [ -n "$VF" ] && VFID=$(ids_of $VF)
    grep -q "^PCI [0-9a-f:.]* $VFID " $LV/d1.serial || bad="no PCI line with $VFID (the VF) in the nested guest: $(grep '^PCI' $LV/d1.serial | tr '\n' ';' | cut -c1-300)"
else
    bad="$bad no NESTED-READY: $(tail -n 3 $LV/d1.serial 2>/dev/null | tr '\n' ';' | cut -c1-200) qemu log: $(tail -n 3 /var/log/libvirt/qemu/d1.log 2>/dev/null | tr '\n' ';' | cut -c1-300)"
fi
expect "virsh start d1: running, the nested guest lists the VF ($VFID) on its serial log" "" "$bad"
emit serial-d1 cat $LV/d1.serial
vsh d1-dumpxml-live dumpxml d1
# the other member while d1 runs: libvirt hot-plugs it (live and persistent), or devpass
# refuses and changes nothing (a q35 guest cannot hot-add the root port a new bus needs)
OTHER=$VF2; [ "$VF" = $VF2 ] && OTHER=$VF1
state >/tmp/state.live
dp attach-live libvirt attach d1 $OTHER
vsh d1-dumpxml-after-live dumpxml d1
bad=
if [ "$rc" = 0 ]; then
    grep -q "alias name='$(alias_of $OTHER)'" /tmp/vsh.out || bad="exit 0 but the live XML has no $(alias_of $OTHER);"
    [ "$(drv_of $OTHER)" = vfio-pci ] || bad="$bad exit 0 but $OTHER on $(drv_of $OTHER);"
    how="hot-plugged $OTHER"
else
    [ "$rc" = 1 ] || bad="exit $rc: $(errline);"
    [ -s /tmp/dp.err ] || bad="$bad no message;"
    left=$(changed_since /tmp/state.live)
    [ -z "$left" ] || bad="$bad changed: $left;"
    grep -q "alias name='$(alias_of $OTHER)'" /tmp/vsh.out && bad="$bad the live XML has $(alias_of $OTHER);"
    claims_text | grep -q "$OTHER" && bad="$bad $OTHER claimed;"
    how="refused ($(errline | cut -c1-160)), nothing changed"
fi
[ "$(domstate d1)" = running ] || bad="$bad d1 $(domstate d1);"
expect "libvirt attach d1 $OTHER (the pool's other VF) while d1 runs: $how, d1 still running" "" "$bad"
t0=$(now_ms)
vsh d1-destroy destroy d1
if [ "$vrc" = 0 ] && [ -n "$VF" ] && vf_back_within 20 "$VF"; then
    ok "virsh destroy d1: the hook gave $VF back (nvme drives it, claim --list: No claims) $rel_ms ms after virsh destroy returned"
else
    nok "virsh destroy d1: the hook gives the VF back (nvme, no claim)" "virsh exit $vrc: $(errline /tmp/vsh.err) $([ -n "$VF" ] && vf_back "$VF") hook log: $(grep '^d1 ' $HOOKLOG | tail -n 4 | tr '\n' ';')"
fi
dp destroy-claims claim --list
dp destroy-list list -s "${VF#0000:}"
[ -n "$VF" ] && wait_nvme_live "$VF" 50 >/dev/null

# ---------------------------------------------------------- a restart after the release
vsh d1-restart start d1
VF_R=$(taken_vf)
bad=
[ "$vrc" = 0 ] || bad="virsh start exit $vrc: $(errline /tmp/vsh.err);"
[ "$(domstate d1)" = running ] || bad="$bad d1 $(domstate d1);"
[ -n "$VF_R" ] && [ "$VF_R" = "$VF" ] || bad="$bad the VF named in the XML ($VF) is not on vfio-pci (${VF_R:-none is});"
claims_text >/tmp/claims.txt
grep -q d1 /tmp/claims.txt || bad="$bad no claim for d1: $(tr '\n' ' ' </tmp/claims.txt | cut -c1-200);"
expect "virsh start d1 after the release: the hook claimed $VF again for d1 and bound it, d1 running" "" "$bad"
vsh d1-destroy-2 destroy d1
[ -n "$VF" ] && vf_back_within 20 "$VF"
[ -n "$VF" ] && wait_nvme_live "$VF" 50 >/dev/null
dp detach-0 libvirt detach d1
state_restore "attach, start, destroy"

# ---------------------------------------------------------- d2 asking for the VF d1 holds
dp attach-2 libvirt attach d1 --pool $POOL
VF=$(taken_vf)
hostdev_of d1 $LV/hostdev.xml
# d2 asks for the same host function; its guest address is left to libvirt
awk '/<source>/{s=1} /<\/source>/{s=0; print; next} !s && /<address /{next} {print}' \
    $LV/hostdev.xml >$LV/hostdev-d2.xml
domain_xml d2 $LV/hostdev-d2.xml >$LV/d2.xml
vsh d2-define define $LV/d2.xml
state >/tmp/state.d1
vsh d2-start start d2
cp /tmp/vsh.err $LV/d2-start.err
bad=
[ "$AT_RC" = 0 ] && [ "$rc" = 0 ] || bad="attach d1 again: exit $rc: $(errline);"
[ -s $LV/hostdev-d2.xml ] || bad="$bad d1 has no <hostdev> to copy;"
[ "$vrc" != 0 ] || bad="$bad virsh start d2 succeeded;"
[ "$(domstate d2)" = "shut off" ] || bad="$bad d2 is $(domstate d2);"
grep -qi 'hook' $LV/d2-start.err || bad="$bad virsh's error is not the hook's: $(errline $LV/d2-start.err);"
grep -qiE 'd1|claimed|owner' $LV/d2-start.err || bad="$bad the message does not name d1 or the claim: $(errline $LV/d2-start.err);"
left=$(changed_since /tmp/state.d1)
[ -z "$left" ] || bad="$bad changed: $left;"
claims_text >/tmp/claims.txt
grep -q d1 /tmp/claims.txt || bad="$bad d1's claim is gone after d2's failed start (release/end of d2 released it?);"
expect "virsh start d2 with ${VF:-the VF} that d1 holds: refused by the hook, its message names the claim, d2 shut off, d1's claim and binding untouched" "" "$bad"
note "d2's start: $(errline $LV/d2-start.err)"

dp detach-1 libvirt detach d1
bad=
[ "$rc" = 0 ] || bad="exit $rc: $(errline);"
hostdev_of d1 /tmp/hd.txt
[ -s /tmp/hd.txt ] && bad="$bad d1's definition still has a <hostdev>: $(tr '\n' ' ' </tmp/hd.txt | cut -c1-200);"
[ -n "$VF" ] && bad="$bad $(vf_back "$VF")"
expect "libvirt detach d1: exit 0, no <hostdev> left in d1's definition, ${VF:-the VF} on nvme, no claim" "" "$bad"
[ -n "$VF" ] && wait_nvme_live "$VF" 50 >/dev/null
vsh d2-undefine undefine d2
state_restore "d2"

# ================================================================== 3. the attach timing
# devpass: claim + bind + virDomainDefineXML (command to defined domain); the peer edits the
# definition only (the element devpass wrote, the device not bound), and the peer by hand
# binds with bare sysfs writes first, as a user following a tutorial would
bench() {
    local i t0 t1 list_dp= list_virsh= list_hand= el=$LV/bench-hostdev.xml v
    for i in $(seq 0 "$BENCH_RUNS"); do
        t0=$(ms_now)
        dp bench-attach-$i libvirt attach d1 --pool $POOL
        t1=$(ms_now)
        [ "$rc" = 0 ] || { nok "bench: libvirt attach d1 --pool $POOL (run $i)" "exit $rc: $(errline)"; return; }
        [ "$i" -gt 0 ] && list_dp="$list_dp $((t1 - t0))"
        hostdev_of d1 $el
        v=$(taken_vf)
        dp bench-detach-$i libvirt detach d1
        [ -n "$v" ] && wait_nvme_live "$v" 50 >/dev/null
        [ -s $el ] || { nok "bench: the hostdev element of d1" "none after the attach"; return; }
        t0=$(ms_now)
        virsh attach-device d1 $el --config >/tmp/vsh.out 2>&1 || { nok "bench: virsh attach-device --config" "$(errline /tmp/vsh.out)"; return; }
        t1=$(ms_now)
        virsh detach-device d1 $el --config >/dev/null 2>&1
        [ "$i" -gt 0 ] && list_virsh="$list_virsh $((t1 - t0))"
        t0=$(ms_now)
        sysfs_bind "$v" vfio-pci
        virsh attach-device d1 $el --config >/dev/null 2>&1
        t1=$(ms_now)
        virsh detach-device d1 $el --config >/dev/null 2>&1
        sysfs_bind "$v" nvme
        [ "$v" = $VF1 ] && echo >"/sys/bus/pci/devices/$v/driver_override"
        wait_nvme_live "$v" 50 >/dev/null
        [ "$i" -gt 0 ] && list_hand="$list_hand $((t1 - t0))"
    done
    median() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR + 1) / 2)]}'; }
    note "bench devpass libvirt attach d1 --pool $POOL (claim + bind + define): median $(median $list_dp) ms, runs:$list_dp"
    note "bench virsh attach-device d1 --config (the same element, definition only): median $(median $list_virsh) ms, runs:$list_virsh"
    note "bench sysfs bind to vfio-pci + virsh attach-device --config (by hand): median $(median $list_hand) ms, runs:$list_hand"
    ok "bench: $BENCH_RUNS timed runs of each after a warm-up (libvirt detach between)"
}
bench
state_restore "bench"

# ================================================================== 4. refusals
dp attach-unknown libvirt attach nosuchdomain --pool $POOL
bad=
claims_text >/tmp/claims.txt
grep -q '^No claims' /tmp/claims.txt || bad="claims left: $(tr '\n' ' ' </tmp/claims.txt | cut -c1-200)"
expect_refused "libvirt attach nosuchdomain --pool $POOL: exit 1, the domain named, nothing claimed or bound $bad" \
    "nosuchdomain" /tmp/state.0
lv_stop
dp attach-no-libvirtd libvirt attach d1 --pool $POOL
bad=
claims_text >/tmp/claims.txt
grep -q '^No claims' /tmp/claims.txt || bad="claims left: $(tr '\n' ' ' </tmp/claims.txt | cut -c1-200)"
expect_refused "libvirt attach d1 with libvirtd stopped: exit 1, says how to start libvirtd, nothing claimed or bound $bad" \
    "libvirtd.*start|start.*libvirtd|systemctl" /tmp/state.0

emit libvirtd-log cat /var/log/libvirt/libvirtd.log
emit qemu-log-d1 cat /var/log/libvirt/qemu/d1.log
emit hook-log cat $HOOKLOG
emit dmesg dmesg
emit state-final state
data_close
exit 0
