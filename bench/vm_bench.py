#!/usr/bin/env python3
"""Figures of bench/vm-bench.sh from the vmbench boot's data.log (tests/vm/guest-vmbench.sh):
rows "METHOD PHASE NDEV RUN MS OK" in the @@BEGIN vmbench@@ block. Prints the median of the
timed runs (run 0 is the warm-up) per phase and device count for devpass and the hand run,
the difference and the ratio, and whether devpass stays within max(10 %, 100 ms).

Usage: vm_bench.py DATA_LOG
"""
import re
import statistics
import sys


def block(text, name):
    m = re.search(rf"^@@BEGIN {re.escape(name)}@@\n(.*?)^@@END {re.escape(name)} rc=", text, re.S | re.M)
    return m.group(1) if m else None


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        text = f.read().decode("utf-8", "replace").replace("\r", "")
    rows = block(text, "vmbench")
    if rows is None:
        print("vm-bench: no vmbench block in the data (did the boot finish? see console.log)")
        return 1
    data, bad = {}, 0
    for line in rows.splitlines():
        f = line.split()
        if len(f) != 6:
            continue
        method, phase, ndev, run, ms, ok = f[0], f[1], int(f[2]), int(f[3]), int(f[4]), f[5] == "1"
        if not ok:
            bad += 1
        if run == 0 or not ok:
            continue
        data.setdefault((phase, ndev, method), []).append(ms)
    print("vm start (to a running QEMU) and vm stop (to the devices back on their drivers),")
    print("medians of the timed runs in the TCG guest (nested guests on KVM); hand = the same")
    print("QEMU command line on devices bound by a bare sysfs loop, stopped over QMP")
    print(f"{'phase':6} {'devices':>7} {'devpass ms':>11} {'hand ms':>8} {'diff ms':>8} {'ratio':>6} {'n':>3}  within max(10%, 100 ms)")
    verdicts = []
    for phase in ("start", "stop"):
        for ndev in (1, 4):
            d = data.get((phase, ndev, "devpass"), [])
            h = data.get((phase, ndev, "hand"), [])
            if not d or not h:
                print(f"{phase:6} {ndev:>7} {'-':>11} {'-':>8}   (no complete runs)")
                continue
            md, mh = statistics.median(d), statistics.median(h)
            diff = md - mh
            ok = diff <= max(0.10 * mh, 100)
            verdicts.append(ok)
            print(f"{phase:6} {ndev:>7} {md:>11.0f} {mh:>8.0f} {diff:>+8.0f} {md / mh:>6.2f} {min(len(d), len(h)):>3}  {'yes' if ok else 'NO'}")
    if bad:
        print(f"note: {bad} run(s) did not end in the expected state and are left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
