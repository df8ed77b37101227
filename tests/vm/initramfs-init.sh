#!/bin/sh
# /init of the tiny initramfs: load the modules for the root disk, mount /dev/vda (ext4)
# and switch_root into it, where /sbin/vm-init runs the guest tests.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 >/proc/sys/kernel/printk
# the firmware's last console line has no newline: start ours on a fresh line
echo
echo "# initramfs: loading $(cat /etc/boot-modules)"

fail() {
    echo "not ok - vm boot: $*"
    dmesg | tail -n 15 | sed 's/^/# /'
    echo "DEVPASS-VM-ABORTED"
    poweroff -f
    sleep 60
}

for m in $(cat /etc/boot-modules); do
    modprobe "$m" || fail "modprobe $m failed in the initramfs"
done

i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || fail "no /dev/vda (virtio-blk root disk) after 10 s"
mount -t ext4 -o rw /dev/vda /newroot || fail "cannot mount /dev/vda"
[ -x /newroot/sbin/vm-init ] || fail "root image has no /sbin/vm-init"

mount --move /dev /newroot/dev
mount --move /sys /newroot/sys
mount --move /proc /newroot/proc
exec switch_root /newroot /sbin/vm-init
