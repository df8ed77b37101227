#!/usr/bin/env python3
"""Figures of bench/bind-bench.sh from the bench boot's data.log (tests/vm/guest-bench.sh).

Rows sent by the guest: METHOD PHASE RUN MS NONZERO_EXITS STATE_OK; run 0 is the warm-up.
Prints, per method and phase, the median/min/max over the timed runs, ms per VF, the
ratios against devpass, and the exit statuses seen.
"""
import re
import statistics
import sys

LABEL = {
    "devpass": "devpass bind/restore VF...",
    "devpass1": "devpass, one process per VF",
    "shell": "shell loop, bare sysfs writes",
    "driverctl": "driverctl set/unset-override",
}


def main():
    if len(sys.argv) != 2:
        print("usage: bind_bench.py DATA_LOG", file=sys.stderr)
        return 2
    text = open(sys.argv[1], "rb").read().decode("utf-8", "replace").replace("\r", "")
    m = re.search(r"^@@BEGIN bench@@\n(.*?)^@@END bench rc=", text, re.S | re.M)
    if not m:
        print("bind-bench: no bench data in " + sys.argv[1] + " (see the not ok lines above)")
        return 1
    rows, notes, nvf = [], [], None
    for line in m.group(1).split("\n"):
        if line.startswith("# vfs "):
            nvf = int(line.split()[2])
        elif line.startswith("#"):
            notes.append(line)
        elif len(line.split()) == 6:
            meth, phase, run, ms, fails, sok = line.split()
            rows.append((meth, phase, int(run), int(ms), int(fails), sok == "1"))
    timed = [r for r in rows if r[2] > 0]
    runs = sorted({r[2] for r in timed})
    methods = [x for x in ("devpass", "devpass1", "shell", "driverctl") if any(r[0] == x for r in timed)]
    if not timed:
        print("bind-bench: no timed runs in the data")
        return 1

    def series(meth, phase):
        return [r[3] for r in timed if r[0] == meth and r[1] == phase]

    def trip(meth):
        per = {}
        for r in timed:
            if r[0] == meth and r[1] in ("bind", "restore"):
                per[r[2]] = per.get(r[2], 0) + r[3]
        return list(per.values())

    print(f"{nvf} SR-IOV VFs of QEMU's nvme (offline, no driver), bound to vfio-pci and back;")
    print(f"median of {len(runs)} runs after one warm-up run, wall time in the TCG guest "
          "(10 ms clock: /proc/uptime)")
    print()
    print(f"{'method':34} {'phase':14} {'median ms':>10} {'min':>7} {'max':>7} {'ms/VF':>7}  exits!=0  warm-up ms")
    med = {}
    for meth in methods:
        for phase in ("drybind", "bind", "restore", "trip"):
            xs = trip(meth) if phase == "trip" else series(meth, phase)
            if not xs:
                continue
            med[(meth, phase)] = statistics.median(xs)
            want = ("bind", "restore") if phase == "trip" else (phase,)
            fails = sum(r[4] for r in timed if r[0] == meth and r[1] in want)
            warm = [r[3] for r in rows if r[0] == meth and r[1] == phase and r[2] == 0]
            name = {"drybind": "bind --dry-run", "trip": "both"}.get(phase, phase)
            print(f"{LABEL[meth]:34} {name:14} {med[(meth, phase)]:>10.0f} {min(xs):>7} {max(xs):>7} "
                  f"{med[(meth, phase)] / nvf:>7.1f}  {fails:>8}  {warm[0] if warm else '-':>10}")
    print()
    for other in methods:
        if other == "devpass":
            continue
        parts = []
        for phase in ("bind", "restore", "trip"):
            a, b = med.get((other, phase)), med.get(("devpass", phase))
            if a and b:
                parts.append(f"{'both' if phase == 'trip' else phase} {a / b:.2f}x")
        if parts:
            print(f"ratio {LABEL[other]:30} / devpass: {', '.join(parts)}  (>1: devpass faster)")
    bad = [r for r in timed if not r[5]]
    print()
    print(f"state checks: {len(timed) - len(bad)}/{len(timed)} timed phases ended with every VF as expected")
    for n in notes[:5]:
        print(n)
    if "driverctl" in methods:
        print("driverctl unset-override exits 1 on every VF here ('failed to bind device'): it reprobes,")
        print("and no driver takes a VF with sriov_drivers_autoprobe=0, which is the wanted end state.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
