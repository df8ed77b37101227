#!/bin/sh
# /init of the nested guest's initramfs (the `vm` boot starts it with `devpass vm`, and
# tests/vm/secureboot.sh boots it through shim + GRUB). Everything goes to the first serial
# port, one fact per line, for the caller to read back from `devpass vm log NAME`:
#   NESTED-BEGIN <kernel release>
#   PCI <addr> <vendor>:<device> class=<class>        every PCI function (sysfs walk)
#   SEED device=/dev/X label=cidata type=iso9660      the cloud-init seed, when one is found
#   SEED meta-data: <line>  /  SEED user-data: <line> its files, line by line, as written
#   SEED none                                         no volume labelled cidata/CIDATA
#   SECUREBOOT <dmesg line>                           the kernel's secureboot: lines
#   NESTED-READY                                      all of the above has been printed
#   NESTED-STAYING / NESTED-POWERDOWN / NESTED-POWEROFF   what it does next
# Kernel argument devpass_nested=stay|deaf|poweroff (default poweroff): after NESTED-READY
# stay up and power off when the ACPI power button is pressed (QMP system_powerdown), stay
# up and ignore the button (so only QEMU's quit or a signal ends it), or power off at once
# (`poweroff -f`: QEMU exits by itself).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 >/proc/sys/kernel/printk
OUT=/dev/ttyS0
[ -c $OUT ] || OUT=/dev/console
exec >$OUT 2>&1
echo
echo "NESTED-BEGIN $(uname -r)"

after=poweroff
for arg in $(cat /proc/cmdline); do
    case $arg in devpass_nested=*) after=${arg#devpass_nested=} ;; esac
done

# ------------------------------------------------------------------ PCI functions
for d in /sys/bus/pci/devices/*; do
    [ -e "$d/vendor" ] || continue
    v=$(cat "$d/vendor"); p=$(cat "$d/device"); c=$(cat "$d/class")
    echo "PCI ${d##*/} ${v#0x}:${p#0x} class=${c#0x}"
done

# ------------------------------------------------------------------ the cloud-init seed
# Whatever bus the seed is on: a CD on AHCI/IDE (sr_mod), a virtio disk, a SCSI disk.
# busybox has no blkid: findfs finds a volume by label (ISO 9660 and FAT included).
for m in $(cat /etc/nested-modules); do modprobe -q "$m" 2>/dev/null; done
seed= label=
i=0
while [ $i -lt 25 ]; do
    for l in cidata CIDATA; do
        seed=$(findfs "LABEL=$l" 2>/dev/null) && label=$l && break
    done
    [ -n "$seed" ] && break
    sleep 0.2; i=$((i + 1))
done
if [ -n "$seed" ]; then
    mkdir -p /seed
    type=
    for t in iso9660 vfat; do
        mount -o ro -t $t "$seed" /seed 2>/dev/null && type=$t && break
    done
    echo "SEED device=$seed label=$label type=${type:-unknown}"
    if [ -n "$type" ]; then
        for f in meta-data user-data; do
            if [ -f "/seed/$f" ]; then
                # every line as written, the last one even without a newline
                while IFS= read -r line || [ -n "$line" ]; do
                    echo "SEED $f: $line"
                done <"/seed/$f"
                echo "SEED $f END $(wc -c <"/seed/$f") bytes"
            else
                echo "SEED $f MISSING"
            fi
        done
        echo "SEED files: $(ls /seed | tr '\n' ' ')"
        umount /seed
    fi
else
    echo "SEED none (block devices: $(ls /dev | grep -E '^(sr|vd|sd)' | tr '\n' ' '))"
fi

# ------------------------------------------------------------------ Secure Boot
dmesg | grep -i 'secureboot' | sed 's/^\[[^]]*\] *//; s/^/SECUREBOOT /'
[ -d /sys/firmware/efi ] && echo "EFI yes" || echo "EFI no"

echo "NESTED-READY"
# power button: `vm stop` sends QMP system_powerdown (an ACPI power button press); a
# guest with no one listening ignores it (devpass_nested=deaf stays that way)
power_button() {
    local e
    for e in /sys/class/input/event*; do
        [ "$(cat "$e/device/name" 2>/dev/null)" = "Power Button" ] && { echo "/dev/input/${e##*/}"; return 0; }
    done
    return 1
}
if [ "$after" = stay ] || [ "$after" = deaf ]; then
    pb=$(power_button)
    echo "NESTED-STAYING power-button=${pb:-none} ($after)"
    if [ "$after" = stay ] && [ -n "$pb" ]; then
        # one input event (24 bytes) = the button was pressed
        dd if="$pb" bs=24 count=1 of=/dev/null 2>/dev/null
        echo "NESTED-POWERDOWN"
        poweroff -f
    fi
    while :; do sleep 3600; done
fi
echo "NESTED-POWEROFF"
poweroff -f
sleep 30
