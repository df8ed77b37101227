#!/usr/bin/env python3
"""Peer comparison of one fixture root: lspci vs the fixture manifest, lspci -t vs the
manifest's topology, and (when a devpass binary is given) `devpass list --json` vs lspci.

    compare.py --scenario NAME --root DIR [--devpass PATH]

Prints `ok - peer ...` / `not ok - peer ...: why` lines, one per (scenario, field).
Standard library only.
"""

import argparse
import json
import os
import re
import subprocess
import sys

MAX_SHOWN = 4


def emit(ok, name, why=""):
    if ok:
        print("ok - %s" % name)
    else:
        print("not ok - %s: %s" % (name, why))
    sys.stdout.flush()


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return p.returncode, p.stdout, p.stderr


def lspci_base(root):
    return ["lspci", "-A", "linux-sysfs", "-O", "sysfs.path=%s/sys/bus/pci" % root]


def parse_vmm(text):
    recs = {}
    for block in text.strip().split("\n\n"):
        r = {}
        for line in block.splitlines():
            k, sep, v = line.partition(":\t")
            if sep:
                r.setdefault(k, v)
        if "Slot" in r:
            recs[r["Slot"]] = r
    return recs


def parse_tree(text):
    """Return {address: parent address or None} from `lspci -t` output."""
    parent = {}
    cols = {}           # column where children of an entry start -> (domain, bus, parent addr)
    tok = re.compile(r"([0-9a-f]{2})\.([0-7])((?:-\[[0-9a-f]{2}(?:-[0-9a-f]{2})?\])?)")
    root_re = re.compile(r"\[([0-9a-f]{4}):([0-9a-f]{2})\]-")
    for line in text.splitlines():
        pos = 0
        while pos < len(line):
            m_root = root_re.search(line, pos)
            m_tok = tok.search(line, pos)
            if m_root and (not m_tok or m_root.start() < m_tok.start()):
                nxt = tok.search(line, m_root.end())
                if nxt:
                    cols[nxt.start()] = (m_root.group(1), m_root.group(2), None)
                pos = m_root.end()
                continue
            if not m_tok:
                break
            c = m_tok.start()
            if c not in cols:
                raise ValueError("cannot place %r at column %d in %r" % (m_tok.group(0), c, line))
            dom, bus, par = cols[c]
            addr = "%s:%s:%s.%s" % (dom, bus, m_tok.group(1), m_tok.group(2))
            parent[addr] = par
            br = m_tok.group(3)
            pos = m_tok.end()
            if br:
                sec = br[2:4]
                nxt = tok.search(line, m_tok.end())
                if nxt and line[m_tok.end():nxt.start()].strip("-+\\") == "":
                    cols[nxt.start()] = (dom, sec, addr)
    return parent


def split_name(v):
    """'Name [1234]' (lspci -nn) -> ('Name', '1234')."""
    if v is None:
        return None, None
    name, _, code = v.rpartition(" [")
    return name, code.rstrip("]")


class Table:
    """Collects per-field mismatches and prints one line per field."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.fields = {}
        self.order = []

    def check(self, field, addr, got, want, label=("got", "want")):
        if field not in self.fields:
            self.fields[field] = [0, []]
            self.order.append(field)
        f = self.fields[field]
        f[0] += 1
        if got != want:
            f[1].append("%s %s=%s %s=%s" % (addr, label[0], json.dumps(got), label[1], json.dumps(want)))

    def report(self):
        for field in self.order:
            n, bad = self.fields[field]
            why = ""
            if bad:
                shown = "; ".join(bad[:MAX_SHOWN])
                more = " (+%d more)" % (len(bad) - MAX_SHOWN) if len(bad) > MAX_SHOWN else ""
                why = "%d/%d differ: %s%s" % (len(bad), n, shown, more)
            emit(not bad, "%s %s" % (self.prefix, field), why)


def none_if_absent(rec, key):
    return rec.get(key)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--devpass")
    a = ap.parse_args()
    sc, root = a.scenario, a.root

    with open(os.path.join(root, "fixture.json")) as f:
        man = json.load(f)
    mdev = {d["address"]: d for d in man["devices"]}

    base = lspci_base(root)
    rc, out_n, err = run(base + ["-D", "-n", "-k", "-vmm"])
    if rc != 0:
        emit(False, "peer %s lspci-runs" % sc, "lspci -n -vmm exit %d: %s" % (rc, err.strip()[:200]))
        return
    rc2, out_names, err2 = run(base + ["-D", "-k", "-vmm"])
    rc3, out_terse, err3 = run(base + ["-D"])
    rc4, out_tree, err4 = run(base + ["-t"])
    errs = [l for l in (err + err2 + err3 + err4).splitlines()
            if l.strip() and "libkmod" not in l]
    emit(rc2 == 0 and rc3 == 0 and rc4 == 0 and not errs, "peer %s lspci-runs" % sc,
         "exit codes %d/%d/%d, stderr: %s" % (rc2, rc3, rc4, " | ".join(errs[:3])))
    num = parse_vmm(out_n)
    names = parse_vmm(out_names)
    terse = {}
    for line in out_terse.splitlines():
        addr, _, rest = line.partition(" ")
        rest = re.sub(r" \(rev [0-9a-f]{2}\)$", "", rest)
        terse[addr] = rest

    # -- 1. lspci reads the fixture the way it was written -------------------
    missing = sorted(set(mdev) - set(num))
    extra = sorted(set(num) - set(mdev))
    emit(not missing and not extra, "peer %s lspci-sees-all-devices" % sc,
         "missing %s extra %s" % (missing[:MAX_SHOWN], extra[:MAX_SHOWN]))
    t = Table("peer %s fixture-vs-lspci" % sc)
    for addr, d in mdev.items():
        r = num.get(addr)
        if r is None:
            continue
        lab = ("lspci", "fixture")
        t.check("vendor", addr, r.get("Vendor"), d["vendor"], lab)
        t.check("device", addr, r.get("Device"), d["device"], lab)
        t.check("class", addr, r.get("Class"), d["class"], lab)
        t.check("prog_if", addr, r.get("ProgIf"), d["prog_if"], lab)
        t.check("revision", addr, r.get("Rev", "00"), d["revision"], lab)
        sv_shown = d["subsystem_vendor"] not in ("0000", "ffff")
        t.check("subsystem_vendor", addr, r.get("SVendor"), d["subsystem_vendor"] if sv_shown else None, lab)
        t.check("subsystem_device", addr, r.get("SDevice"), d["subsystem_device"] if sv_shown else None, lab)
        t.check("driver", addr, r.get("Driver"), d["driver"], lab)
        t.check("numa_node", addr, int(r["NUMANode"]) if "NUMANode" in r else None, d["numa_node"], lab)
        t.check("iommu_group", addr, int(r["IOMMUGroup"]) if "IOMMUGroup" in r else None,
                d["iommu_group"], lab)
        nr = names.get(addr, {})
        fallback = bool(re.match(r"^(Vendor|Device|Unknown vendor) [0-9a-f]{4}$", nr.get("Vendor", "")) or
                        re.match(r"^Device [0-9a-f]{4}$", nr.get("Device", "")))
        t.check("names-resolve", addr, not fallback, d.get("names_in_pci_ids", True), lab)
    t.report()

    # -- 2. lspci -t draws the fixture's topology ------------------------------
    try:
        tree = parse_tree(out_tree)
        bad = ["%s parent lspci=%s fixture=%s" % (k, tree.get(k, "<absent>"), v["parent"])
               for k, v in sorted(mdev.items()) if tree.get(k, "<absent>") != v["parent"]]
        emit(not bad, "peer %s lspci-tree" % sc,
             "%d/%d differ: %s" % (len(bad), len(mdev), "; ".join(bad[:MAX_SHOWN])))
    except ValueError as e:
        emit(False, "peer %s lspci-tree" % sc, "cannot parse lspci -t: %s" % e)
        tree = None

    # -- 3. devpass list --json vs lspci ---------------------------------------
    if not a.devpass:
        return
    if not os.access(a.devpass, os.X_OK):
        emit(False, "peer %s devpass-runs" % sc, "%s not found (build it: meson setup build && ninja -C build)" % a.devpass)
        return
    rc, out, err = run([a.devpass, "--root", root, "list", "--json"])
    try:
        dp = json.loads(out) if rc == 0 else None
    except ValueError as e:
        dp = None
        err = "bad JSON: %s; %s" % (e, err)
    emit(dp is not None and isinstance(dp, list), "peer %s devpass-runs" % sc,
         "exit %d: %s" % (rc, err.strip()[:300]))
    if not isinstance(dp, list):
        return
    dpd = {}
    for o in dp:
        if isinstance(o, dict) and "address" in o:
            dpd[o["address"]] = o
    addrs = [o.get("address") for o in dp if isinstance(o, dict)]
    emit(addrs == sorted(addrs, key=lambda s: s or ""), "peer %s devpass-sorted" % sc,
         "list --json is not sorted by address")
    missing = sorted(set(num) - set(dpd))
    extra = sorted(set(dpd) - set(num))
    emit(not missing and not extra, "peer %s address" % sc,
         "devpass lacks %s%s; devpass extra %s" % (", ".join(missing[:MAX_SHOWN]),
                                                   " (+%d)" % (len(missing) - MAX_SHOWN) if len(missing) > MAX_SHOWN else "",
                                                   ", ".join(extra[:MAX_SHOWN])))
    t = Table("peer %s" % sc)
    lab = ("devpass", "lspci")
    for addr in sorted(set(num) & set(dpd)):
        r, nr, o = num[addr], names.get(addr, {}), dpd[addr]
        t.check("vendor", addr, o.get("vendor"), r.get("Vendor"), lab)
        t.check("device", addr, o.get("device"), r.get("Device"), lab)
        t.check("class", addr, o.get("class"), r.get("Class"), lab)
        t.check("prog_if", addr, o.get("prog_if"), r.get("ProgIf"), lab)
        t.check("revision", addr, o.get("revision"), r.get("Rev", "00"), lab)
        # lspci hides the subsystem when its vendor is 0000 or ffff; devpass then says null
        t.check("subsystem_vendor", addr, o.get("subsystem_vendor"), r.get("SVendor"), lab)
        t.check("subsystem_device", addr, o.get("subsystem_device"), r.get("SDevice"), lab)
        t.check("vendor_name", addr, o.get("vendor_name"), nr.get("Vendor"), lab)
        t.check("device_name", addr, o.get("device_name"), nr.get("Device"), lab)
        t.check("class_name", addr, o.get("class_name"), nr.get("Class"), lab)
        t.check("subsystem_vendor_name", addr, o.get("subsystem_vendor_name"), nr.get("SVendor"), lab)
        t.check("subsystem_device_name", addr, o.get("subsystem_device_name"), nr.get("SDevice"), lab)
        t.check("description", addr, o.get("description"), terse.get(addr), lab)
        t.check("driver", addr, o.get("driver"), r.get("Driver"), lab)
        t.check("numa_node", addr, o.get("numa_node"),
                int(r["NUMANode"]) if "NUMANode" in r else None, lab)
        t.check("iommu_group", addr, o.get("iommu_group"),
                int(r["IOMMUGroup"]) if "IOMMUGroup" in r else None, lab)
        if tree is not None:
            t.check("parent", addr, o.get("parent"), tree.get(addr), ("devpass", "lspci-t"))
    t.report()


if __name__ == "__main__":
    main()
