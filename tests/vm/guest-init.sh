#!/bin/sh
# PID 1 on the guest's real root (/dev/vda): set up the basics, run the guest tests,
# print the completion marker and power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
# the initramfs moved /proc, /sys and /dev here; mount them only when it did not
[ -e /proc/self/mountinfo ] || mount -t proc proc /proc
[ -d /sys/bus/pci ] || mount -t sysfs sysfs /sys
[ -c /dev/null ] || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
echo 1 >/proc/sys/kernel/printk
hostname devpass-vm

mode=unknown
for arg in $(cat /proc/cmdline); do
    case $arg in devpass_vm=*) mode=${arg#devpass_vm=} ;; esac
done

case $mode in
    bind) script=/tests/guest-bind.sh; label="vm[bind]" ;;
    bench) script=/tests/guest-bench.sh; label="vm[bench]" ;;
    vm) script=/tests/guest-vm.sh; label="vm[vm]" ;;
    vmbench) script=/tests/guest-vmbench.sh; label="vm[vmbench]" ;;
    pools) script=/tests/guest-pools.sh; label="vm[pools]" ;;
    kinds) script=/tests/guest-kinds.sh; label="vm[kinds]" ;;
    libvirt) script=/tests/guest-libvirt.sh; label="vm[libvirt]" ;;
    critical) script=/tests/guest-critical.sh; label="vm[critical]" ;;
    persist1|persist2) script=/tests/guest-persist.sh; label="vm[persist] boot ${mode#persist}:" ;;
    *) script=/tests/guest-tests.sh; label="vm[iommu=$mode]" ;;
esac
sh "$script" "$mode" </dev/null 2>/tmp/guest-tests.stderr
rc=$?
if [ $rc -ne 0 ]; then
    echo "not ok - $label guest tests: ${script##*/} exited $rc: $(tail -n 3 /tmp/guest-tests.stderr | tr '\n' ' ')"
fi
sync
echo "DEVPASS-VM-DONE"
sleep 0.2
poweroff -f
sleep 30
