#!/usr/bin/env python3
"""Host-side checks of one VM boot (tests/vm/run.sh calls this).

Reads the blocks the guest sent over its second serial port (see guest-tests.sh) and
compares devpass's view of the guest with lspci and sysfs. Prints one `ok - ...` /
`not ok - ...: why` line per check (docs/contracts.md) and exits 0 whenever it could
read the data at all.

Usage: check.py MODE DATA_LOG      (MODE: on | off, the guest's intel_iommu=; bind, persist1,
                                   persist2, pools, critical, bench, vm, kinds, libvirt: the other boots)
"""
import json
import re
import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "on"
T = (f"vm[iommu={MODE}]" if MODE in ("on", "off") else
     "vm[persist]" if MODE in ("persist1", "persist2") else f"vm[{MODE}]")
# the persist boots share one label: their checks name the boot
BOOT = f"boot {MODE[-1]}: " if MODE in ("persist1", "persist2") else ""
ROUTE_MAC_DEV = "0000:00:03.0"   # e1000e on user networking with the default route
VFIO_DEV = "0000:04:00.0"        # e1000e the guest binds to vfio-pci
BRIDGE = "0000:00:08.0"          # pci-bridge; its children share one IOMMU group

results = []


def ok(name):
    results.append(f"ok - {T} {name}")


def nok(name, why):
    why = " ".join(str(why).split())
    if len(why) > 600:
        why = why[:600] + "..."
    results.append(f"not ok - {T} {name}: {why}")


def check(name, cond, why):
    (ok if cond else (lambda n: nok(n, why)))(name)


def read_blocks(path):
    blocks = {}
    cur, buf = None, []
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace").replace("\r", "")
    for line in text.split("\n"):
        m = re.match(r"^@@BEGIN (\S+)@@$", line)
        if m:
            cur, buf = m.group(1), []
            continue
        # the marker may follow output that did not end with a newline
        m = re.match(r"^(.*)@@END (\S+) rc=(-?\d+)@@$", line)
        if m and cur == m.group(2):
            if m.group(1):
                buf.append(m.group(1))
            blocks[cur] = ("\n".join(buf), int(m.group(3)))
            cur = None
            continue
        if cur is not None:
            buf.append(line)
    return blocks


def parse_vmm(text):
    """lspci -vmm records keyed by Slot."""
    recs = {}
    for chunk in re.split(r"\n\s*\n", text.strip()):
        rec = {}
        for line in chunk.split("\n"):
            if ":\t" in line:
                k, v = line.split(":\t", 1)
                rec[k.strip()] = v.strip()
        if "Slot" in rec:
            recs[rec["Slot"]] = rec
    return recs


def split_nn(value):
    """'Red Hat, Inc. [1af4]' -> ('Red Hat, Inc.', '1af4')"""
    m = re.match(r"^(.*) \[([0-9a-f]{4})\]$", value or "")
    return (m.group(1), m.group(2)) if m else (value, None)


def share_group(dg, what, members):
    holding = sorted({g for g, m in dg.items() for k in members if k in m})
    check(f"groups --json: {what} ({', '.join(members)}) share one group",
          len(members) >= 2 and len(holding) == 1 and all(k in dg[holding[0]] for k in members),
          f"{members} are in groups {holding}")


def first_line(blocks, name):
    text = blocks.get(name, ("", 0))[0].strip()
    return text.split("\n")[0] if text else "unknown"


def parse_json_block(blocks, name):
    if name not in blocks:
        return None, f"no '{name}' output from the guest"
    text, rc = blocks[name]
    try:
        return json.loads(text), None
    except ValueError as e:
        err = blocks.get(name + ".stderr", ("", 0))[0]
        return None, f"exit {rc}, not JSON ({e}); stderr: {err.strip()[:200]}; stdout: {text.strip()[:200]}"


def parse_vvv(text):
    """lspci -D -vvv: per address, the PCIe port type (None when no Express capability),
    whether ACS is present, and the Device Serial Number."""
    out = {}
    for chunk in re.split(r"\n(?=[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] )", text.strip()):
        addr = chunk.split(" ", 1)[0]
        m = re.search(r"Capabilities: \[[0-9a-f]+\] Express \([^)]*\) ([A-Za-z -]+?)(?: \(|,|$)", chunk, re.M)
        dsn = re.search(r"Device Serial Number (\S+)", chunk)
        out[addr] = {
            "pcie_type": m.group(1).strip().lower() if m else None,
            "acs": "Access Control Services" in chunk,
            "dsn": dsn.group(1) if dsn else None,
        }
    return out


def check_show(blocks, dp, sysfs, groups_sysfs):
    vvv = parse_vvv(blocks.get("lspci-vvv", ("", 0))[0])
    names = [n for n in blocks if n.startswith("devpass-show-json-") and not n.endswith(".stderr")]
    for name in sorted(names):
        addr = name[len("devpass-show-json-"):]
        sh, err = parse_json_block(blocks, name)
        rc = blocks[name][1]
        if not isinstance(sh, dict) or rc != 0:
            nok(f"show --json {addr}: exits 0 with a JSON object", err or f"exit {rc}")
            continue
        d, s = dp.get(addr, {}), sysfs.get(addr, {})
        bad = []

        def same(label, got, want):
            if got != want:
                bad.append(f"{label}={got!r} (want {want!r})")

        same("address", sh.get("address"), addr)
        for k in ("description", "driver", "iommu_group", "vfio_group", "numa_node", "parent",
                  "host_critical", "host_critical_reasons", "revision"):
            same(k, sh.get(k), d.get(k))
        ids, nm = sh.get("ids") or {}, sh.get("names") or {}
        for k in ("vendor", "device", "subsystem_vendor", "subsystem_device"):
            same(f"ids.{k}", ids.get(k), d.get(k))
            same(f"names.{k}", nm.get(k), d.get(k + "_name"))
        same("ids.class", ids.get("class"), (d.get("class") or "") + (d.get("prog_if") or ""))
        same("names.class", nm.get("class"), d.get("class_name"))
        same("driver_override", sh.get("driver_override"), s.get("override"))
        same("sysfs_path", sh.get("sysfs_path"), s.get("path"))
        reset = (sh.get("reset") or {}).get("kernel_methods")
        same("reset.kernel_methods", reset.replace(" ", ",") if isinstance(reset, str) else reset,
             s.get("reset"))
        g = d.get("iommu_group")
        members = sorted(m.get("address") for m in sh.get("group_members") or [])
        same("group_members", members, groups_sysfs.get(g, []) if g is not None else [])
        sr = sh.get("sriov")
        if s.get("physfn"):
            same("sriov.physfn", (sr or {}).get("physfn"), s.get("physfn"))
        elif s.get("totalvfs") not in (None, "0"):
            vfs = sorted(a for a, x in sysfs.items() if x.get("physfn") == addr)
            same("sriov.total_vfs", (sr or {}).get("total_vfs"), int(s["totalvfs"]))
            same("sriov.num_vfs", (sr or {}).get("num_vfs"), int(s["numvfs"]))
            same("sriov.vfs", sorted((sr or {}).get("vfs") or []), vfs)
        else:
            same("sriov", sr, None)
        v = vvv.get(addr)
        if v:
            same("pcie.type", (sh.get("pcie") or {}).get("type"), v["pcie_type"])
            same("acs present", sh.get("acs") is not None, v["acs"])
            if v["dsn"]:
                same("serial (PCI DSN)", sh.get("serial"), v["dsn"])
        check(f"show --json {addr}: agrees with list --json, sysfs and lspci -vvv", not bad, "; ".join(bad))
    if "devpass-show-short" in blocks:
        text, rc = blocks["devpass-show-short"]
        check("show 02:00.1 (no domain): exits 0 and shows 0000:02:00.1",
              rc == 0 and re.search(r"^Address:\s+0000:02:00\.1$", text, re.M),
              f"exit {rc}: {text.strip()[:200]}")
    if "devpass-show-missing" in blocks:
        text, rc = blocks["devpass-show-missing"]
        err = blocks.get("devpass-show-missing.stderr", ("", 0))[0].strip()
        check("show of a missing address: exit 1, message on stderr, nothing on stdout",
              rc == 1 and err and not text.strip(), f"exit {rc}, stderr {err!r}, stdout {text.strip()[:100]!r}")


ACTIONS = {"bind", "unbind", "restore", "reset", "skip"}
RESULTS = {"planned", "done", "skipped", "rolled-back", "failed", "refused"}


def bind_runs(blocks):
    """run-NAME blocks of the bind boot: {NAME: (cmd, stdout, stderr, rc, ms)}"""
    runs = {}
    for name, (text, rc) in blocks.items():
        if not name.startswith("run-") or name.endswith((".stderr", ".cmd")):
            continue
        cmd = blocks.get(name + ".cmd", ("", 0))[0].split("\n")
        ms = next((int(x[3:]) for x in cmd if x.startswith("ms=")), None)
        runs[name[4:]] = (cmd[0], text, blocks.get(name + ".stderr", ("", 0))[0], rc, ms)
    return runs


def plan_shape(doc, cmd, rc):
    """what is wrong with a `--json` answer of bind/unbind/restore (docs/contracts.md)"""
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    bad = []
    if not isinstance(doc.get("ok"), bool):
        bad.append(f"ok={doc.get('ok')!r}")
    if not isinstance(doc.get("dry_run"), bool):
        bad.append(f"dry_run={doc.get('dry_run')!r}")
    if not (doc.get("error") is None or isinstance(doc.get("error"), str)):
        bad.append(f"error={doc.get('error')!r}")
    steps = doc.get("steps")
    if not isinstance(steps, list):
        return bad + [f"steps={steps!r}"]
    for st in steps:
        if not isinstance(st, dict) or not {"address", "group", "from", "to", "action", "result"} <= set(st):
            bad.append(f"step {st!r} lacks keys")
            continue
        if st["action"] not in ACTIONS or st["result"] not in RESULTS:
            bad.append(f"step {st['address']}: action {st['action']!r} result {st['result']!r}")
    if doc.get("ok") is not (rc == 0):
        bad.append(f"ok={doc.get('ok')!r} but exit {rc}")
    if doc.get("dry_run") is not ("--dry-run" in cmd.split()):
        bad.append(f"dry_run={doc.get('dry_run')!r} for `{cmd}`")
    if doc.get("ok") is False and not doc.get("error"):
        bad.append("ok false without an error")
    if doc.get("ok") is True and doc.get("error") is not None:
        bad.append(f"ok true with error {doc.get('error')!r}")
    results = {st.get("result") for st in steps if isinstance(st, dict)}
    if doc.get("dry_run") is True and results - {"planned", "skipped"}:
        bad.append(f"dry run with results {sorted(results)}")
    if doc.get("ok") is True and doc.get("dry_run") is False and results & {"planned", "failed", "rolled-back"}:
        bad.append(f"ok run with results {sorted(results)}")
    return bad


def check_bind(blocks):
    runs = bind_runs(blocks)
    if not runs:
        nok("bind data: devpass runs received", "no run-* blocks (devpass missing in the guest?)")
        return
    if "help-bind" in runs and runs["help-bind"][3] != 0:
        nok("bind data: devpass bind available", f"`devpass bind --help` exit {runs['help-bind'][3]}")
        return
    groups = {}
    for line in blocks.get("sysfs-groups", ("", 0))[0].split("\n"):
        parts = line.split()
        for a in parts[1:]:
            groups[a] = int(parts[0])
    docs, bad_shape = {}, []
    for name, (cmd, out, err, rc, ms) in sorted(runs.items()):
        words = cmd.split()
        if "--json" not in words or len(words) < 2 or words[0] != "devpass" \
                or words[1] not in ("bind", "unbind", "restore", "reset"):
            continue
        try:
            docs[name] = json.loads(out)
        except ValueError as e:
            bad_shape.append(f"{name} (`{cmd}`, exit {rc}): not JSON: {e}: {out.strip()[:120]!r}")
            continue
        bad_shape += [f"{name} (`{cmd}`): {b}" for b in plan_shape(docs[name], cmd, rc)]
    check(f"bind --json: {{ok, dry_run, error, steps[{{address, group, from, to, action, result}}]}} "
          f"consistent with the exit status and --dry-run ({len(docs)} runs)",
          docs and not bad_shape, "; ".join(bad_shape) or "no --json run")

    def steps(name):
        return {st.get("address"): st for st in (docs.get(name) or {}).get("steps") or []
                if isinstance(st, dict)}

    def expect_steps(name, what, want):
        if name not in docs:
            nok(what, f"no JSON from run {name}: {runs.get(name, ('', '', '', None))[2].strip()[:200]}")
            return
        got = steps(name)
        bad = []
        if set(got) != set(want):
            bad.append(f"steps for {sorted(got)}, want {sorted(want)}")
        for a, w in want.items():
            st = got.get(a, {})
            for k, v in w.items():
                if st.get(k) != v:
                    bad.append(f"{a}.{k}={st.get(k)!r} (want {v!r})")
        check(what, not bad, "; ".join(bad))

    g9 = groups.get("0000:05:01.0")
    expect_steps("dry-group-json", "bind --dry-run --json 0000:05:01.0: steps for both endpoints of the group "
                 "(e1000 and virtio-pci to vfio-pci, planned), none for the bridge",
                 {"0000:05:01.0": {"group": g9, "from": "e1000", "to": "vfio-pci", "action": "bind", "result": "planned"},
                  "0000:05:02.0": {"group": g9, "from": "virtio-pci", "to": "vfio-pci", "action": "bind", "result": "planned"}})
    expect_steps("bind-group", "bind --json 0000:05:01.0: both endpoints bound (done)",
                 {"0000:05:01.0": {"group": g9, "from": "e1000", "to": "vfio-pci", "action": "bind", "result": "done"},
                  "0000:05:02.0": {"group": g9, "from": "virtio-pci", "to": "vfio-pci", "action": "bind", "result": "done"}})
    expect_steps("rebind-nvme-json", "bind --json of the nvme already on vfio-pci: one skip step (skipped)",
                 {"0000:01:00.0": {"group": groups.get("0000:01:00.0"), "action": "skip", "result": "skipped"}})
    expect_steps("restore-nvme", "restore --json 0000:01:00.0: one restore step vfio-pci -> nvme (done)",
                 {"0000:01:00.0": {"from": "vfio-pci", "to": "nvme", "action": "restore", "result": "done"}})
    for short, why in (("00:02.0", "filesystem|root|mount"), ("00:03.0", "route")):
        name = f"refuse-json-{short}"
        if name not in docs:
            continue
        d = docs[name]
        done = [a for a, st in steps(name).items() if st.get("result") == "done"]
        check(f"bind --json 0000:{short} (host-critical): ok false, error names the reason, no step done",
              d.get("ok") is False and re.search(why, d.get("error") or "", re.I) and not done,
              f"ok {d.get('ok')!r}, error {d.get('error')!r}, done {done}")

    # list --json while the nvme is on vfio-pci: original_driver from the ledger
    lst, err = parse_json_block(blocks, "list-after-bind-nvme")
    if isinstance(lst, list):
        dp = {d.get("address"): d for d in lst if isinstance(d, dict)}
        missing = [a for a, d in dp.items() if "original_driver" not in d]
        d = dp.get("0000:01:00.0", {})
        g = groups.get("0000:01:00.0")
        check("list --json after bind 0000:01:00.0: original_driver nvme, driver vfio-pci, "
              f"vfio_group /dev/vfio/{g}; every entry has original_driver",
              not missing and d.get("original_driver") == "nvme" and d.get("driver") == "vfio-pci"
              and d.get("vfio_group") == f"/dev/vfio/{g}",
              f"original_driver {d.get('original_driver', '<absent>')!r}, driver {d.get('driver')!r}, "
              f"vfio_group {d.get('vfio_group')!r}; entries without original_driver: {missing[:5]}")
        others = sorted(a for a, x in dp.items() if a != "0000:01:00.0" and x.get("original_driver"))
        check("list --json after bind 0000:01:00.0: no other function has an original_driver",
              not others, f"{others}")
    elif "list-after-bind-nvme" in blocks:
        nok("list --json after bind 0000:01:00.0", err)
    lst, err = parse_json_block(blocks, "list-final")
    if isinstance(lst, list):
        left = sorted(f"{d.get('address')}={d.get('original_driver')!r}" for d in lst
                      if isinstance(d, dict) and d.get("original_driver") is not None)
        check("list --json after restore --all: no function has an original_driver left", not left, f"{left}")

    # the nested QEMU's view of its PCI bus
    if "nested-qemu" in runs:
        cmd, out, err, rc, ms = runs["nested-qemu"]
        try:
            nd = json.loads(out)
        except ValueError:
            nd = None
        dev = [d for d in (nd or {}).get("devices", [])
               if (d.get("vendor"), d.get("device"), d.get("class")) == ("8086", "10d3", "0200")]
        check("nested QEMU: query-pci lists the passed-through e1000e (8086:10d3, class 0200, "
              "qdev hostdev0) and QEMU exits 0 on quit",
              nd and nd.get("ok") and nd.get("qemu_rc") == 0 and dev and dev[0].get("qdev_id") == "hostdev0",
              f"{(out or err).strip()[:400]}")

    # timings of the devpass runs in the guest (TCG, so slow in absolute terms)
    by_verb = {}
    for name, (cmd, out, err, rc, ms) in runs.items():
        parts = cmd.split()
        if len(parts) > 1 and parts[0] == "devpass" and ms is not None and not name.startswith("concurrent"):
            verb = parts[1] + (" --dry-run" if "--dry-run" in parts else "")
            by_verb.setdefault(verb, []).append(ms)
    summary = ", ".join(f"{v} {sorted(ms)[len(ms) // 2]} ms (n={len(ms)})" for v, ms in sorted(by_verb.items()))
    results.append(f"# {T} devpass median wall time in the guest (TCG): {summary}")


def check_bench(blocks):
    """sanity of the bench boot's data (bench/bind_bench.py prints the figures)"""
    if "bench" not in blocks:
        nok("bench: timings received", "no 'bench' block from the guest")
        return
    rows = [l.split() for l in blocks["bench"][0].split("\n") if l.strip() and not l.startswith("#")]
    methods = sorted({r[0] for r in rows if len(r) == 6})
    check(f"bench: timings received for {', '.join(methods)}", len(methods) >= 1 and all(len(r) == 6 for r in rows),
          f"rows {rows[:3]}")
    bad = [" ".join(r) for r in rows if len(r) == 6 and r[5] != "1"]
    check("bench: every timed phase ended in the expected state", not bad, f"{bad[:5]}")


PERSIST_NVME, PERSIST_PF, PERSIST_VF, PERSIST_GONE = \
    "0000:01:00.0", "0000:02:00.0", "0000:02:00.2", "0000:04:00.0"


def check_persist(blocks):
    """the persist boots: `devpass persist --list --json` and `check --json` (guest-persist.sh
    judges the files and the bindings; this judges devpass's own account of them)"""
    boot = MODE[-1]
    runs = bind_runs(blocks)
    if not runs:
        nok(f"{BOOT}data: devpass runs received", "no run-* blocks (devpass persist missing?)")
        return
    for name, (cmd, _out, err, rc, ms) in sorted(runs.items()):
        if name.startswith("unit-"):
            results.append(f"# {T} {BOOT}{cmd}: exit {rc}, {ms} ms")

    # persist --list --json: one row per rule, the devices it matches now and its state
    want = {  # key -> (driver, sriov_numvfs, devices, state)
        "1": {PERSIST_NVME: ("vfio-pci", None, [PERSIST_NVME], "not active"),
              PERSIST_PF: (None, 2, [PERSIST_PF], "active"),   # the guest made 2 VFs itself
              PERSIST_VF: ("vfio-pci", None, [PERSIST_VF], "not active"),
              PERSIST_GONE: ("vfio-pci", None, [PERSIST_GONE], "not active")},
        "2": {PERSIST_NVME: ("vfio-pci", None, [PERSIST_NVME], "active"),
              PERSIST_PF: (None, 2, [PERSIST_PF], "active"),
              PERSIST_VF: ("vfio-pci", None, [PERSIST_VF], "active"),
              PERSIST_GONE: ("vfio-pci", None, [], "absent")},
    }[boot]
    name = f"list-json-boot{boot}"
    if name in runs:
        cmd, out, err, rc, _ms = runs[name]
        try:
            rows = json.loads(out)
        except ValueError as e:
            rows = None
            nok(f"{BOOT}persist --list --json: a JSON array", f"exit {rc}, {e}; stderr: {err.strip()[:200]}")
        if isinstance(rows, list):
            shape = [r for r in rows if not isinstance(r, dict) or
                     not {"rule", "match", "key", "driver", "sriov_numvfs", "devices", "state"} <= set(r)]
            check(f"{BOOT}persist --list --json: exit 0, rows {{rule, match, key, driver, sriov_numvfs, devices, state}}",
                  rc == 0 and not shape, f"exit {rc}; bad rows {shape[:2]}")
            got = {r.get("key"): r for r in rows if isinstance(r, dict)}
            check(f"{BOOT}persist --list --json: one rule per persisted device ({', '.join(sorted(want))}), all by address",
                  sorted(got) == sorted(want) and len(rows) == len(want) and
                  all(r.get("match") == "address" for r in got.values()),
                  f"keys {sorted(got)}, matches {[r.get('match') for r in got.values()]}")
            for key, (drv, vfs, devs, state) in sorted(want.items()):
                r = got.get(key)
                if r is None:
                    continue
                what = f"VF count {vfs}" if vfs is not None else drv
                have = (r.get("driver"), r.get("sriov_numvfs"), r.get("devices"), r.get("state"))
                check(f"{BOOT}persist --list --json: {key} ({what}) matches {', '.join(devs) or 'no device'}, state {state}",
                      have == (drv, vfs, devs, state),
                      f"driver {have[0]!r}, sriov_numvfs {have[1]!r}, devices {have[2]!r}, state {have[3]!r}")
    else:
        nok(f"{BOOT}persist --list --json", "not run")

    # check --json: persisted-bindings, one WARN per rule not in effect, never a FAIL
    name = f"check-json-boot{boot}"
    if name in runs:
        cmd, out, err, rc, _ms = runs[name]
        try:
            chk = json.loads(out)
        except ValueError as e:
            nok(f"{BOOT}check --json: a JSON object", f"exit {rc}, {e}; stderr: {err.strip()[:200]}")
            return
        pb = [c for c in chk.get("checks", []) if c.get("name") == "persisted-bindings"]
        warned = {k for k in want for c in pb if c.get("status") == "WARN" and k in (c.get("detail") or "")}
        bad = [f"{c.get('status')}: {c.get('detail')}" for c in pb if c.get("status") not in ("PASS", "WARN")]
        expect_warn = ({PERSIST_NVME, PERSIST_VF, PERSIST_GONE} if boot == "1" else {PERSIST_GONE})
        check(f"{BOOT}check --json: persisted-bindings WARNs for exactly {', '.join(sorted(expect_warn))}, no FAIL",
              pb and warned == expect_warn and not bad,
              f"WARN for {sorted(warned)}; {bad}; entries: {[(c.get('status'), c.get('detail')) for c in pb]}")
        if boot == "2":
            gone = [c for c in pb if PERSIST_GONE in (c.get("detail") or "")]
            check(f"{BOOT}check --json: the WARN for {PERSIST_GONE} says the device is absent, and the fix names "
                  f"persist --remove",
                  gone and re.search(r"absent|no such device|not present|missing", gone[0].get("detail") or "")
                  and "persist --remove" in (gone[0].get("fix") or ""),
                  [(c.get("detail"), c.get("fix")) for c in gone])
        fails = [f"{c.get('name')}: {c.get('detail')}" for c in chk.get("checks", []) if c.get("status") == "FAIL"]
        check(f"{BOOT}check --json: ready, exit 0 (the persisted rules are not fatal)",
              chk.get("ready") is True and rc == 0, f"ready {chk.get('ready')}, exit {rc}, FAIL: {fails}")
    else:
        nok(f"{BOOT}check --json", "not run")

POOL, POOL_PF, POOL_VFS = "nvmevf", "0000:02:00.0", ("0000:02:00.1", "0000:02:00.2")


def entries(doc):
    """every JSON object with an "address" inside doc, outermost first"""
    out = []
    if isinstance(doc, dict):
        if isinstance(doc.get("address"), str):
            out.append(doc)
        for v in doc.values():
            out += entries(v)
    elif isinstance(doc, list):
        for v in doc:
            out += entries(v)
    return out


def pool_members(doc):
    """`pool show --json`: the members (a list, or an object with "members")"""
    if isinstance(doc, dict):
        doc = doc.get("members")
    return [m for m in doc or [] if isinstance(m, dict)] if isinstance(doc, list) else None


def check_pools(blocks):
    """the pools boot: devpass's JSON account of the pool of the two VFs, its claims and
    exports, held against what the guest saw in sysfs (guest-pools.sh judges the drivers)"""
    runs = bind_runs(blocks)
    if not runs:
        nok("pools data: devpass runs received", "no run-* blocks (devpass missing in the guest?)")
        return
    if any(runs.get(h, ("", "", "", 0))[3] != 0 for h in ("help-pool", "help-claim")):
        nok("pools data: devpass pool and claim available", "`devpass pool --help` or `claim --help` failed")
        return
    facts, host = {}, None
    for line in blocks.get("vf-facts", ("", 0))[0].split("\n"):
        parts = line.split()
        if len(parts) == 2 and parts[0] == "hostname":
            host = parts[1]
        elif parts:
            f = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            facts[parts[0]] = {k: v[2:] if v.startswith("0x") else v for k, v in f.items()}
    # owner -> (address, pid) of the claims as the guest saw them in sysfs
    claimed = {}
    for name in ("claims", "stale-claim"):
        for line in blocks.get(name, ("", 0))[0].split("\n"):
            parts = line.split()
            if len(parts) >= 2:
                claimed[parts[0]] = (parts[1], int(parts[2]) if len(parts) > 2 else 0)

    def doc(name):
        if name not in runs:
            return None, "not run"
        cmd, out, err, rc, _ms = runs[name]
        try:
            return json.loads(out), None
        except ValueError as e:
            return None, f"`{cmd}` exit {rc}, not JSON ({e}): {out.strip()[:160]!r} {err.strip()[:160]!r}"

    def show(name, what, want, drivers=None):
        """want: {address: (state, owner, stale)}; the driver shown is vfio-pci for claimed
        members and the setup's driver for free ones, unless drivers says otherwise"""
        d, err = doc(name)
        ms = pool_members(d)
        if ms is None:
            nok(f"pool show {POOL} --json ({what})", err or f"no members list: {str(d)[:200]}")
            return
        got = {m.get("address"): m for m in ms}
        bad = []
        if sorted(got, key=str) != sorted(want):
            bad.append(f"members {sorted(got, key=str)}, want {sorted(want)}")
        for a, (state, owner, stale) in sorted(want.items()):
            m, f = got.get(a), facts.get(a, {})
            if m is None:
                continue
            have = {"state": m.get("state"), "owner": m.get("owner"), "stale": m.get("stale"),
                    "group": str(m.get("group")), "physfn": m.get("physfn"),
                    "id": m.get("id"), "subsystem": m.get("subsystem")}
            need = {"state": state, "owner": owner, "stale": stale, "group": f.get("group"),
                    "physfn": POOL_PF, "id": f"{f.get('vendor')}:{f.get('device')}",
                    "subsystem": f"{f.get('subsystem_vendor')}:{f.get('subsystem_device')}"}
            bad += [f"{a} {k}={have[k]!r} (want {v!r})" for k, v in need.items() if have[k] != v]
            drv = (drivers or {}).get(a) or {"claimed": "vfio-pci", "free": f.get("driver")}.get(state)
            if drv and m.get("driver") != drv:
                bad.append(f"{a} driver={m.get('driver')!r} (want {drv!r})")
        desc = ", ".join(f"{a} {s}" + (f" by {o}" if o else "") + (" (stale)" if st else "")
                         for a, (s, o, st) in sorted(want.items()))
        check(f"pool show {POOL} --json ({what}): {desc}; ids, subsystem, physfn, group as in sysfs",
              not bad, "; ".join(bad))

    def claim_answer(name, owner, addrs, pid, took_over):
        """a claim's --json answer: one entry per device, as the guest found them bound"""
        d, err = doc(name)
        rc = runs.get(name, ("", "", "", None))[3]
        es = {e.get("address"): e for e in d} if isinstance(d, list) else {}
        bad = [err] if err else [] if rc == 0 else [f"exit {rc}"]
        if sorted(es, key=str) != sorted(addrs):
            bad.append(f"names {sorted(es, key=str)}, the guest saw {sorted(addrs)} go to vfio-pci")
        for a in addrs:
            e, g = es.get(a, {}), facts.get(a, {}).get("group")
            have = (e.get("pool"), e.get("owner"), e.get("pid"), str(e.get("group")), e.get("vfio"),
                    e.get("functions"), e.get("took_over"))
            need = (POOL, owner, pid or None, g, f"/dev/vfio/{g}", [a], took_over)
            if e and have != need:
                bad.append(f"{a}: (pool, owner, pid, group, vfio, functions, took_over) {have} (want {need})")
        check(f"claim {POOL} --for {owner} --json: {', '.join(addrs) or '?'} with owner, pid, group, "
              f"/dev/vfio node, functions as in sysfs" + (", took_over" if took_over else ""),
              not bad, "; ".join(map(str, bad)))

    def release_answer(name, owner, addrs, action, what):
        d, err = doc(name)
        rc = runs.get(name, ("", "", "", None))[3]
        es = {e.get("address"): e for e in d} if isinstance(d, list) else {}
        bad = [err] if err else [] if rc == 0 else [f"exit {rc}"]
        if sorted(es, key=str) != sorted(addrs):
            bad.append(f"names {sorted(es, key=str)}, want {sorted(addrs)}")
        # the kernel offers these VFs a reset (reset_method, e.g. flr): release must use it
        bad += [f"{a}: action {e.get('action')!r}, reset {e.get('reset')!r} (sysfs reset_method "
                f"{facts.get(a, {}).get('reset')!r}), owner {e.get('owner')!r}"
                for a, e in es.items() if not (re.search(action, e.get("action") or "") and e.get("owner") == owner
                                               and e.get("reset") is bool(facts.get(a, {}).get("reset")))]
        check(f"release --for {owner} --json: exit 0, {', '.join(addrs) or '?'} reset and {what}", not bad,
              "; ".join(map(str, bad)))

    vf1, vf2 = POOL_VFS
    free = {a: ("free", None, False) for a in POOL_VFS}
    show("show-physfn", "rule physfn=" + POOL_PF, free)
    show("show-free", "rules physfn= and id=: the PF and the plain nvme share the id but are no VFs", free)

    d, err = doc("list-free")
    pools = d.get("pools") if isinstance(d, dict) else None
    mine = [p for p in pools or [] if isinstance(p, dict) and p.get("name") == POOL]
    want = {"type": "sriov-vf", "on_release": "restore", "members": 2, "free": 2, "claimed": 0,
            "quarantined": 0, "conflict": 0}
    check(f"pool list --json: {POOL} (sriov-vf, restore) with 2 members, 2 free, nothing else; no conflicts",
          mine and all(mine[0].get(k) == v for k, v in want.items()) and d.get("conflicts") == [],
          err or f"{mine[:1] or pools}; conflicts {d.get('conflicts')!r}")

    # two claims, a third that fails, two releases
    for owner in ("vm1", "vm2"):
        a = [claimed[owner][0]] if owner in claimed else []
        claim_answer(f"claim-{owner}", owner, a, 0, False)
    a1, a2 = claimed.get("vm1", ("?", 0))[0], claimed.get("vm2", ("?", 0))[0]
    check("claims for vm1 and vm2 got two different VFs", {a1, a2} == set(POOL_VFS), f"vm1 {a1}, vm2 {a2}")
    if {a1, a2} == set(POOL_VFS):
        both = {a1: ("claimed", "vm1", False), a2: ("claimed", "vm2", False)}
        show("show-claimed", "after two claims", both)
        show("show-after-fail", "after the refused third claim: unchanged", both)
    if "claim-vm3" in runs:
        cmd, out, err, rc, _ms = runs["claim-vm3"]
        d, _e = doc("claim-vm3")
        check(f"claim {POOL} --for vm3 --json with no free member: exit 1, nothing claimed, the reason on stderr",
              rc == 1 and not [e for e in entries(d) if e.get("address") in POOL_VFS]
              and re.search(r"no free|0 free", err), f"exit {rc}: {out.strip()[:200]} {err.strip()[:200]}")
    release_answer("release-vm1", "vm1", [a1], "restor", "restored")
    release_answer("release-vm2", "vm2", [a2], "restor", "restored")
    show("show-released", "after both releases", free)

    # stale claims: one taken over by the next claim, the other released by pool gc
    if "vmx" in claimed and "vm-new" in claimed:
        at, (ast, pid) = claimed["vm-new"][0], claimed["vmx"]
        show("show-stale", f"after the claims' process {pid} died",
             {a: ("claimed", "vmx", True) for a in POOL_VFS})
        d, _e = doc("show-stale")
        pids = sorted({m.get("pid") for m in pool_members(d) or []}, key=str)
        check(f"pool show --json: the stale claims name their pid {pid}", pids == [pid], f"pids {pids}")
        claim_answer("claim-takeover", "vm-new", [at], 0, True)
        show("show-takeover", "after the take-over",
             {at: ("claimed", "vm-new", False), ast: ("claimed", "vmx", True)})
    else:
        nok("stale claims: the guest sent which VF was taken over", f"{claimed}")
    show("show-gc", "after pool gc", free)
    release_answer("release-q", "vmq", list(POOL_VFS), "quarantin", "quarantined")
    # a quarantined member names its last tenant (whose data a wipe is for)
    show("show-quarantined", "after a release under --on-release quarantine",
         {a: ("quarantined", "vmq", False) for a in POOL_VFS})
    show("show-cleared", f"after pool clear {vf1}: free, still on vfio-pci",
         {vf1: ("free", None, False), vf2: ("quarantined", "vmq", False)}, {vf1: "vfio-pci"})
    show("show-final", "after the quarantined VFs were cleared, claimed and released", free)
    d, err = doc("list-final")
    pools = d.get("pools") if isinstance(d, dict) else None
    check(f"pool list --json after pool delete {POOL}: the pool is gone",
          isinstance(pools, list) and not [p for p in pools if isinstance(p, dict) and p.get("name") == POOL],
          err or f"{str(d)[:200]}")

    check_exports(runs, doc, facts, host)

    by_verb = {}
    for name, (cmd, out, err, rc, ms) in runs.items():
        parts = cmd.split()
        if len(parts) > 1 and parts[0] == "devpass" and ms is not None and not name.startswith("help"):
            verb = " ".join(parts[1:3]) if parts[1] in ("pool", "export") else parts[1]
            by_verb.setdefault(verb, []).append(ms)
    summary = ", ".join(f"{v} {sorted(ms)[len(ms) // 2]} ms (n={len(ms)})" for v, ms in sorted(by_verb.items()))
    results.append(f"# {T} devpass median wall time in the guest (TCG): {summary}")


def check_exports(runs, doc, facts, host):
    """export proxmox --pool / export nova vs the VFs' ids and IOMMU groups in sysfs"""
    vf_facts = {a: facts[a] for a in POOL_VFS if a in facts}
    if len(vf_facts) != 2:
        nok("exports: the guest sent the VFs' sysfs facts", f"vf-facts: {sorted(facts)}")
        return
    # Proxmox VE resource mapping (/etc/pve/mapping/pci.cfg): the pool as a mapping, one
    # `map` line per VF: id=VVVV:DDDD,iommugroup=N,node=NODE,path=ADDR[,subsystem-id=...]
    if "export-proxmox" in runs:
        cmd, out, err, rc, _ms = runs["export-proxmox"]
        maps = {}
        for line in out.split("\n"):
            m = re.match(r"^\s+map\s+(\S+)\s*$", line)
            if m:
                kv = dict(x.split("=", 1) for x in m.group(1).split(",") if "=" in x)
                maps[kv.get("path")] = kv
        bad = [] if rc == 0 else [f"exit {rc}: {err.strip()[:200]}"]
        if not re.search(rf"^{POOL}\s*$", out, re.M):
            bad.append(f"no mapping named {POOL}")
        if sorted(maps) != sorted(vf_facts):
            bad.append(f"map lines for {sorted(maps, key=str)}")
        for a, f in sorted(vf_facts.items()):
            kv = maps.get(a, {})
            want = {"id": f"{f['vendor']}:{f['device']}", "iommugroup": f["group"]}
            if host and "node" in kv:
                want["node"] = host
            if "subsystem-id" in kv:
                want["subsystem-id"] = f"{f['subsystem_vendor']}:{f['subsystem_device']}"
            bad += [f"{a} {k}={kv.get(k)!r} (sysfs {v!r})" for k, v in want.items() if kv and kv.get(k) != v]
        check(f"export proxmox --pool {POOL}: a mapping {POOL} with one map line per VF, "
              f"id, iommugroup (and node, subsystem-id) as in the guest's sysfs",
              not bad, "; ".join(bad) + f"; output: {out.strip()[:300]!r}")
    d, err = doc("export-proxmox-json")
    if "export-proxmox-json" in runs:
        es = {e["address"]: e for e in entries(d)} if d is not None else {}
        if not es:  # proxmox's own key for the address is path
            es = {e.get("path"): e for e in _dicts(d) if e.get("path")}
        bad = [err] if err else []
        for a, f in vf_facts.items():
            e = es.get(a)
            g = None if e is None else e.get("iommugroup", e.get("iommu_group"))
            if e is None or str(g) != f["group"]:
                bad.append(f"{a}: {e!r} (sysfs group {f['group']})")
        check(f"export proxmox --pool {POOL} --json: both VFs with their IOMMU group", not bad, "; ".join(map(str, bad)))
    # nova: [pci] device_spec entries (JSON) that match the VFs, and an alias for the pool
    if "export-nova" in runs:
        cmd, out, err, rc, _ms = runs["export-nova"]
        specs, aliases = [], []
        for line in out.split("\n"):
            m = re.match(r"^\s*(device_spec|passthrough_whitelist|alias)\s*=\s*(.+)$", line)
            if not m:
                continue
            try:
                v = json.loads(m.group(2))
            except ValueError:
                continue
            for x in v if isinstance(v, list) else [v]:
                (aliases if m.group(1) == "alias" else specs).append(x)
        bad = [] if rc == 0 else [f"exit {rc}: {err.strip()[:200]}"]
        for a, f in sorted(vf_facts.items()):
            hit = [s for s in specs if s.get("vendor_id") == f["vendor"] and s.get("product_id") == f["device"]
                   and s.get("address") in (a, None)]
            if not hit:
                bad.append(f"no device_spec with vendor_id {f['vendor']} product_id {f['device']} for {a}")
        al = [x for x in aliases if x.get("name") == POOL]
        if not al:
            bad.append(f"no alias named {POOL}")
        elif al[0].get("device_type") != "type-VF" or al[0].get("vendor_id") != vf_facts[POOL_VFS[0]]["vendor"] \
                or al[0].get("product_id") != vf_facts[POOL_VFS[0]]["device"]:
            bad.append(f"alias {al[0]}")
        check(f"export nova: device_spec entries for both VFs (vendor_id, product_id as in sysfs) and an alias "
              f"{POOL} with device_type type-VF", not bad, "; ".join(bad) + f"; output: {out.strip()[:300]!r}")
    if "export-nova-json" in runs:
        d, err = doc("export-nova-json")
        text = json.dumps(d) if d is not None else ""
        check("export nova --json: exit 0, JSON naming both VFs' vendor and product ids",
              d is not None and runs["export-nova-json"][3] == 0 and
              all(f["vendor"] in text and f["device"] in text for f in vf_facts.values()),
              err or text[:300])
    # kubevirt: one pciVendorSelector VVVV:DDDD (upper case, as sysfs) for the pool's resource
    if "export-kubevirt" in runs:
        cmd, out, err, rc, _ms = runs["export-kubevirt"]
        f = vf_facts[POOL_VFS[0]]
        want = f'pciVendorSelector: "{f["vendor"].upper()}:{f["device"].upper()}"'
        lines = out.split("\n")
        ok = rc == 0 and want in out and f'resourceName: "devpass.io/{POOL}"' in out and \
            "permittedHostDevices:" in lines
        check(f"export kubevirt: {want} with resourceName devpass.io/{POOL}", ok,
              f"exit {rc}: {err.strip()[:200]}; output: {out.strip()[:300]!r}")


def _dicts(doc):
    """every JSON object inside doc"""
    if isinstance(doc, dict):
        return [doc] + [x for v in doc.values() for x in _dicts(v)]
    if isinstance(doc, list):
        return [x for v in doc for x in _dicts(v)]
    return []


# The critical boot's cases (guest-critical.sh): the case, its device's role, and what one
# host_critical_reasons entry must name. {iface} is the case's interface from its facts.
CRITICAL_CASES = (
    ("mountns", "ext4 mounted only in another mount namespace", [r"mount namespace of pid (\d+)"]),
    ("swap", "active swap file on its lazily unmounted filesystem", [r"swap"]),
    ("loop", "mounted loop device backed by a file on its lazily unmounted filesystem", [r"\bloop"]),
    ("dmcrypt", "ext4 on dm-crypt", [r"dm-\d|crypt0"]),
    ("md", "member of an md RAID1", [r"\bmd\d|raid"]),
    ("md2", "the other member of that md RAID1", [r"\bmd\d|raid"]),
    ("9p", "virtio transport of a 9p mount", [r"9p"]),
    ("virtiofs", "virtio device of a virtiofs mount", [r"virtiofs"]),
    ("nfs", "NIC routing to an NFS server (not the default route)", [r"nfs", r"\b{iface}\b"]),
)


def block_facts(blocks, name):
    """KEY=VALUE lines of a facts-NAME block"""
    text = blocks.get(f"facts-{name}", ("", 0))[0]
    return dict(line.split("=", 1) for line in text.split("\n") if "=" in line)


def check_critical(blocks):
    runs = bind_runs(blocks)
    if not runs:
        nok("critical data: devpass runs received", "no run-* blocks (devpass missing in the guest?)")
        return
    for case, what, patterns in CRITICAL_CASES:
        facts = block_facts(blocks, case)
        if not facts:
            results.append(f"# {T} {case}: no holder was made in the guest (its not-ok line says why)")
            continue
        addr = facts.get("addr")
        pats = [p.format(iface=re.escape(facts.get("iface", "?"))) for p in patterns]
        cmd, out, err, rc, ms = runs.get(f"{case}-show", ("", "", "no run", None, None))
        try:
            doc = json.loads(out)
        except ValueError:
            doc = None
        name = f"{case}: show --json {addr} ({what}): host_critical, a reason naming the holder ({' + '.join(pats)})"
        if rc != 0 or not isinstance(doc, dict):
            nok(name, f"exit {rc}, stdout {out.strip()[:150]!r}, stderr {err.strip()[:150]!r}")
            continue
        reasons = doc.get("host_critical_reasons") or []
        hits = [r for r in reasons if isinstance(r, str) and all(re.search(p, r, re.I) for p in pats)]
        bad = []
        if doc.get("host_critical") is not True:
            bad.append(f"host_critical {doc.get('host_critical')!r}")
        if not hits:
            bad.append(f"no reason matches; reasons {reasons!r}")
        if case == "mountns" and hits:
            pids = facts.get("holder_pids", "").split()
            named = re.search(patterns[0], hits[0], re.I).group(1)
            if named not in pids:
                bad.append(f"pid {named} is not in that mount namespace (its processes: {pids})")
        check(name, not bad, "; ".join(bad))

    # after every holder was freed and every device restored, none of them is critical
    lst, err = parse_json_block(blocks, "list-final")
    if isinstance(lst, list):
        made = {block_facts(blocks, c).get("addr") for c, _, _ in CRITICAL_CASES} - {None}
        dp = {d.get("address"): d for d in lst if isinstance(d, dict)}
        still = {a: dp.get(a, {}).get("host_critical_reasons") for a in sorted(made)
                 if dp.get(a, {}).get("host_critical") is not False}
        check(f"list --json at the end, every holder freed: none of {sorted(made)} is host_critical",
              made and not still, f"still critical: {still}" if made else "no case made a holder")
    else:
        nok("list --json at the end: a JSON array", err)

    by_verb = {}
    for name, (cmd, out, err, rc, ms) in runs.items():
        parts = cmd.split()
        if len(parts) > 1 and parts[0] == "devpass" and ms is not None:
            verb = parts[1] + (" --dry-run" if "--dry-run" in parts else "")
            by_verb.setdefault(verb, []).append(ms)
    summary = ", ".join(f"{v} {sorted(ms)[len(ms) // 2]} ms (n={len(ms)})" for v, ms in sorted(by_verb.items()))
    results.append(f"# {T} devpass median wall time in the guest (TCG): {summary}")


VM_PASSDEV = "0000:04:00.0"
VM_DIR = __import__("os").path.dirname(__import__("os").path.abspath(__file__))


def serial_lines(blocks, name):
    """the nested guest's serial log sent as block NAME, without CRs"""
    return [l.rstrip("\r") for l in blocks.get(name, ("", 0))[0].split("\n")]


def seed_file(lines, which):
    return [l[len(f"SEED {which}: "):] for l in lines if l.startswith(f"SEED {which}: ")]


def check_vm_seed(blocks, name, what):
    lines = serial_lines(blocks, name)
    if not any(l.startswith("NESTED-READY") for l in lines):
        return
    with open(f"{VM_DIR}/nested-user-data") as f:
        want = f.read().rstrip("\n").split("\n")
    got = seed_file(lines, "user-data")
    check(f"{what}: the seed's user-data read inside the nested guest is tests/vm/nested-user-data, line for line",
          got == want, f"got {got[:8]}")
    meta = seed_file(lines, "meta-data")
    check(f"{what}: the seed's meta-data has an instance-id",
          any(re.match(r"instance-id: *\S", l) for l in meta), f"meta-data {meta}")


def check_vm(blocks):
    """the vm boot (guest-vm.sh judges drivers and processes; this judges the seeds the
    nested guests read, devpass's JSON and the wall times)"""
    runs = bind_runs(blocks)
    check_vm_seed(blocks, "log-hand", "hand run")
    if not any(n.startswith("t1-") for n in runs):
        return
    check_vm_seed(blocks, "log-t1", "vm t1 (--cloud-init)")
    with open(f"{VM_DIR}/nested-ssh-key.pub") as f:
        key = " ".join(f.read().split()[:2])
    t2 = serial_lines(blocks, "log-t2")
    if any(l.startswith("NESTED-READY") for l in t2):
        ud = seed_file(t2, "user-data")
        bad = []
        if not ud or ud[0] != "#cloud-config":
            bad.append(f"first line {ud[:1]}")
        if not any(key in l for l in ud):
            bad.append("the key is missing")
        if any(re.match(r"\s*(password|passwd|plain_text_passwd|chpasswd)\s*:", l) for l in ud):
            bad.append("a password is set")
        if not any(re.match(r"ssh_pwauth:\s*(false|no|0)\s*$", l, re.I) for l in ud):
            bad.append("password login not switched off (ssh_pwauth)")
        check("vm t2 (--ssh-key): the seed's user-data is #cloud-config with the key, no password, ssh_pwauth off",
              not bad, "; ".join(bad) + f": {ud[:12]}")
    show, err = (json.loads(runs["t1-show"][1]), None) if "t1-show" in runs and runs["t1-show"][3] == 0 \
        else (None, runs.get("t1-show", ("", "", "no run", None, None))[2])
    if isinstance(show, dict):
        taken = " ".join(show.get("taken") or [])
        check("vm show t1 --json while it runs: state running, the QEMU pid, both devices taken",
              show.get("state") == "running" and isinstance(show.get("qemu_pid"), int)
              and VM_PASSDEV in taken and "pool" in taken, f"{ {k: show.get(k) for k in ('state', 'qemu_pid', 'taken')} }")
    else:
        nok("vm show t1 --json while it runs", err)
    for run, when in (("list-stopped", "after vm stop t1"), ("list-killed", "after the kill -9 of t2's QEMU")):
        if run not in runs:
            continue
        try:
            lst = {d["address"]: d for d in json.loads(runs[run][1])}
        except (ValueError, KeyError, TypeError) as e:
            nok(f"list --json {when}", f"not a JSON list of devices: {e}")
            continue
        d = lst.get(VM_PASSDEV, {})
        vfs = {a: x.get("driver") for a, x in lst.items() if a.startswith("0000:02:00.") and a != "0000:02:00.0"}
        check(f"list --json {when}: {VM_PASSDEV} on e1000e with no original_driver left, the VFs on nvme",
              d.get("driver") == "e1000e" and d.get("original_driver") is None
              and vfs and all(v == "nvme" for v in vfs.values()),
              f"{VM_PASSDEV}: driver {d.get('driver')!r} original_driver {d.get('original_driver')!r}; VFs {vfs}")
    rel = re.search(r"release_ms=(\d+)", blocks.get("t2-release", ("", 0))[0])
    if rel:
        results.append(f"# {T} kill -9 of t2's QEMU: devices back after {rel.group(1)} ms (no command run)")
    by_verb = {}
    for name, (cmd, out, err, rc, ms) in runs.items():
        w = cmd.split()
        if len(w) >= 3 and w[1] == "vm" and ms is not None:
            verb = "vm " + w[2] + (" --start" if "--start" in w else "")
            by_verb.setdefault(verb, []).append(ms)
    summary = ", ".join(f"{v} {sorted(ms)[len(ms) // 2]} ms (n={len(ms)})" for v, ms in sorted(by_verb.items()))
    results.append(f"# {T} devpass vm median wall time in the guest (TCG outer, KVM nested): {summary}")


# ------------------------------------------------------------------ the kinds boot
def kinds_items(doc, key):
    """The list of records in a --json answer: the answer itself when it is a list, else
    the first list member of an object (e.g. {"devices": [...]})."""
    if isinstance(doc, list):
        return [d for d in doc if isinstance(d, dict)]
    if isinstance(doc, dict):
        if isinstance(doc.get(key), list):
            return [d for d in doc[key] if isinstance(d, dict)]
        for v in doc.values():
            if isinstance(v, list):
                return [d for d in v if isinstance(d, dict)]
    return []


def usb_sysfs(blocks):
    """usb-sysfs lines: {name: {busnum, devnum, vid, pid, class, speed, serial, controller, ifs}}"""
    out = {}
    for line in blocks.get("usb-sysfs", ("", 0))[0].split("\n"):
        parts = line.split()
        if not parts:
            continue
        facts = {"ifs": []}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            if k == "if":
                name, cls, drv = v.split(":")[0] + ":" + v.split(":")[1], v.split(":")[2], v.split(":")[3]
                facts["ifs"].append((name, cls, None if drv == "-" else drv))
            else:
                facts[k] = v
        out[parts[0]] = facts
    return out


def run_doc(blocks, name, what):
    doc, err = parse_json_block(blocks, "run-" + name)
    rc = blocks.get("run-" + name, ("", None))[1]
    if doc is None or rc != 0:
        nok(what, err or f"exit {rc}")
        return None
    return doc


def check_kinds_usb(blocks):
    kernel = usb_sysfs(blocks)
    lsusb = blocks.get("lsusb", ("", 0))[0]
    doc = run_doc(blocks, "usb-list-json", "usb list --json: exit 0, JSON")
    if doc is None:
        return
    devs = {d.get("location"): d for d in kinds_items(doc, "devices")}
    want = {n for n in kernel if not n.startswith("usb")}
    check("usb list --json: one record per USB device of sysfs, root hubs left out",
          set(devs) == want, f"devpass {sorted(devs)}, sysfs {sorted(want)}")
    wrong = []
    for name, k in kernel.items():
        d = devs.get(name)
        if d is None:
            continue
        got = (d.get("busnum"), d.get("devnum"), d.get("vendor_id"), d.get("product_id"),
               d.get("serial"), d.get("controller"))
        exp = (int(k["busnum"]), int(k["devnum"]), k["vid"], k["pid"],
               None if k["serial"] in ("-", "") else k["serial"].replace("_", " "), k["controller"])
        if got != exp:
            wrong.append(f"{name}: {got} != sysfs {exp}")
        if str(d.get("speed")) != k["speed"]:
            wrong.append(f"{name}: speed {d.get('speed')} != {k['speed']}")
        ifs = {i.get("name"): i.get("driver") for i in d.get("interfaces") or [] if isinstance(i, dict)}
        kifs = {n: drv for n, _, drv in k["ifs"]}
        if {n: (v or None) for n, v in ifs.items()} != kifs:
            wrong.append(f"{name}: interfaces {ifs} != sysfs {kifs}")
        if d.get("controller_pci") != k["controller"].startswith("0000:"):
            wrong.append(f"{name}: controller_pci {d.get('controller_pci')} for {k['controller']}")
        for key in ("vendor", "product"):
            if d.get(key) and d[key] not in lsusb:
                wrong.append(f"{name}: {key} '{d[key]}' not in lsusb's line")
    check("usb list --json: location, busnum, devnum, ids, serial, speed, controller, interface drivers as sysfs has them",
          not wrong, "; ".join(wrong))
    by_serial = {d.get("serial"): d for d in devs.values()}
    ftdi = by_serial.get("DPSER0001", {})
    check("usb list --json: the usb-serial has names from the hardware database (vendor, product)",
          bool(ftdi.get("vendor")) and bool(ftdi.get("product")), f"vendor {ftdi.get('vendor')!r} product {ftdi.get('product')!r}")
    stor = by_serial.get("DPUSB0001", {})
    check("usb list --json: the mounted usb-storage is critical, with a reason",
          stor.get("critical") is True and bool(stor.get("critical_reason")),
          f"critical {stor.get('critical')!r} reason {stor.get('critical_reason')!r}")
    check("usb list --json: the unmounted usb-serial is not critical",
          ftdi.get("critical") is False, f"critical {ftdi.get('critical')!r}")
    gad = by_serial.get("DPTEST0001", {})
    check("usb list --json: the dummy_hcd gadget (1d6b:0104) hangs off dummy_hcd.0, not a PCI controller",
          gad.get("controller") == "dummy_hcd.0" and gad.get("controller_pci") is False
          and (gad.get("vendor_id"), gad.get("product_id")) == ("1d6b", "0104"),
          f"record {({k: gad.get(k) for k in ('controller', 'controller_pci', 'vendor_id', 'product_id')})}")
    alldoc = run_doc(blocks, "usb-list-all-json", "usb list --all --json: exit 0, JSON")
    if alldoc is not None:
        locs = {d.get("location") for d in kinds_items(alldoc, "devices")}
        check("usb list --all --json: every USB device of sysfs, root hubs included",
              locs == set(kernel), f"devpass {sorted(locs)}, sysfs {sorted(kernel)}")
    after = run_doc(blocks, "usb-list-replugged", "usb list --json after the replug: exit 0, JSON")
    if after is not None:
        back = [d for d in kinds_items(after, "devices") if d.get("serial") == "DPSER0001"]
        check("usb list --json after the replug: the usb-serial is listed again, with a new device number",
              len(back) == 1 and back[0].get("devnum") != ftdi.get("devnum"),
              f"records {[(d.get('location'), d.get('devnum')) for d in back]}, before devnum {ftdi.get('devnum')}")


def mdev_sysfs(blocks, name):
    types, devs = {}, {}
    for line in blocks.get(name, ("", 0))[0].split("\n"):
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "type":
            facts = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
            types[(parts[1], parts[2])] = facts
        elif len(parts) >= 2 and parts[0] == "device":
            devs[parts[1]] = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
    return types, devs


def check_kinds_mdev(blocks):
    doc = run_doc(blocks, "mdev-types-json", "mdev types mtty --json: exit 0, JSON")
    if doc is not None:
        got = {(t.get("parent"), t.get("type")): t for t in kinds_items(doc, "types")}
        want = {("mtty", "mtty-1"): 24, ("mtty", "mtty-2"): 12}
        bad = [f"{k}: {got.get(k)}" for k, n in want.items()
               if got.get(k, {}).get("available") != n or got.get(k, {}).get("device_api") != "vfio-pci"]
        check("mdev types mtty --json: mtty-1 (24 available) and mtty-2 (12), device_api vfio-pci",
              set(got) == set(want) and not bad, f"types {sorted(got)}; {'; '.join(bad)}")
    types, devs = mdev_sysfs(blocks, "mdev-sysfs-created")
    doc = run_doc(blocks, "mdev-types-after", "mdev types mtty --json after a create: exit 0, JSON")
    if doc is not None and types:
        got = {(t.get("parent"), t.get("type")): t.get("available") for t in kinds_items(doc, "types")}
        want = {k: int(v["available"]) for k, v in types.items()}
        check("mdev types --json after a create: available instances as sysfs says", got == want,
              f"devpass {got}, sysfs {want}")
    doc = run_doc(blocks, "mdev-list-json", "mdev list --json: exit 0, JSON")
    if doc is not None:
        got = {m.get("uuid"): m for m in kinds_items(doc, "mdevs")}
        bad = [f"{u}: {got.get(u)}" for u, f in devs.items()
               if (got.get(u, {}).get("parent"), got.get(u, {}).get("type"), got.get(u, {}).get("state"))
               != (f["parent"], f["type"], "active")]
        check("mdev list --json: every mdev of sysfs, active, with its parent and type",
              devs and not bad, "; ".join(bad) or "sysfs had no mdev")


def vf_records(doc):
    for key in ("vfs", "VFs"):
        if isinstance(doc, dict) and isinstance(doc.get(key), list):
            return doc[key]
    return kinds_items(doc, "vfs")


def onoff(v):
    return {True: "on", False: "off"}.get(v, str(v).lower() if v is not None else None)


def check_kinds_sriov(blocks):
    doc = run_doc(blocks, "sriov-show-set", "sriov show --json after set: exit 0, JSON")
    if doc is None:
        return
    vfs = {v.get("vf", v.get("index")): v for v in vf_records(doc)}
    check("sriov show --json: the 4 VFs of the netdevsim port", sorted(vfs) == [0, 1, 2, 3], f"VF indexes {sorted(vfs, key=str)}")
    v = vfs.get(2, {})
    got = (str(v.get("mac", "")).lower(), v.get("vlan"), v.get("qos"), v.get("max_rate"), v.get("min_rate"),
           onoff(v.get("spoofchk")), onoff(v.get("trust")), v.get("link_state"))
    want = ("02:00:00:00:02:02", 200, 3, 1000, 100, "off", "on", "disable")
    check("sriov show --json: VF 2 as set (mac, vlan 200, qos 3, rates 1000/100, spoofchk off, trust on, link-state disable)",
          got == want, f"got {got}")
    v1 = vfs.get(1, {})
    check("sriov show --json: VF 1 as iproute2 set it (02:00:00:00:01:01, vlan 100, trust on)",
          (str(v1.get("mac", "")).lower(), v1.get("vlan"), onoff(v1.get("trust"))) == ("02:00:00:00:01:01", 100, "on"),
          f"VF 1 {v1}")


def check_kinds(blocks):
    check_kinds_usb(blocks)
    check_kinds_mdev(blocks)
    check_kinds_sriov(blocks)
    runs = [n[4:] for n in blocks if n.startswith("run-") and not n.endswith((".stderr", ".cmd"))]
    results.append(f"# {T} {len(runs)} devpass runs sent by the guest")


# ------------------------------------------------------------------ the libvirt boot
LIBVIRT_SCHEMA = "/usr/share/libvirt/schemas/domain.rng"


def rng_errors(xml, schema):
    """xmllint --relaxng of one XML text: None when valid, else its message"""
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(xml)
        f.flush()
        p = subprocess.run(["xmllint", "--noout", "--relaxng", schema, f.name],
                           capture_output=True, text=True)
    return None if p.returncode == 0 else (p.stderr or p.stdout).replace(f.name, "XML")


def nodedev_facts(xml):
    """The facts of a libvirt node-device XML both libvirt and devpass must agree on"""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(xml)
    f = {k: (root.findtext(k) or "").strip() for k in ("name", "path", "parent")}
    f["driver"] = (root.findtext("driver/name") or "").strip()
    cap = root.find("capability[@type='pci']")
    if cap is None:
        return f
    for k in ("class", "domain", "bus", "slot", "function"):
        f[k] = (cap.findtext(k) or "").strip()
    for k in ("product", "vendor"):
        e = cap.find(k)
        f[k] = e.get("id") if e is not None else ""
    g = cap.find("iommuGroup")
    f["iommuGroup"] = "" if g is None else g.get("number") + " " + " ".join(
        sorted(f"{a.get('bus')}:{a.get('slot')}.{a.get('function')}" for a in g.findall("address")))
    numa = cap.find("numa")
    f["numa"] = numa.get("node") if numa is not None else ""
    for sub in cap.findall("capability"):
        addrs = " ".join(sorted(f"{a.get('bus')}:{a.get('slot')}.{a.get('function')}"
                                for a in sub.findall("address")))
        f["cap-" + sub.get("type")] = f"{sub.get('maxCount') or ''} {addrs}".strip()
    return f


def check_nodedev(blocks, addr):
    """`devpass show ADDR --format libvirt` says what libvirt's own nodedev driver says"""
    name = "pci_" + addr.replace(":", "_").replace(".", "_")
    lv, dp = blocks.get(f"run-nodedev-virsh-{name}"), blocks.get(f"run-nodedev-devpass-{name}")
    what = f"show {addr} --format libvirt = virsh nodedev-dumpxml {name} (libvirt's nodedev driver)"
    if not lv or lv[1] != 0 or not dp or dp[1] != 0:
        nok(what, f"virsh rc={lv and lv[1]}, devpass rc={dp and dp[1]}: "
                  f"{blocks.get(f'run-nodedev-devpass-{name}.stderr', ('', 0))[0][:200]}")
        return
    try:
        a, b = nodedev_facts(lv[0]), nodedev_facts(dp[0])
    except Exception as e:  # a parse error is a finding, not a crash
        nok(what, f"cannot parse: {e}")
        return
    diff = [f"{k}: libvirt {a.get(k)!r}, devpass {b.get(k)!r}"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    check(what + " (name, path, parent, driver, ids, class, address, IOMMU group, NUMA, SR-IOV)",
          not diff, "; ".join(diff))


def check_libvirt(blocks):
    """The domain definitions libvirt held after `devpass libvirt attach` (virsh dumpxml, as
    sent by the guest) are valid against libvirt's own schema on this machine"""
    import os
    import shutil
    if not (shutil.which("xmllint") and os.path.exists(LIBVIRT_SCHEMA)):
        nok("domain XML after libvirt attach valid against domain.rng",
            "xmllint (libxml2-utils) or libvirt0's schemas missing on this machine")
        return
    for name, what in (("d1-attached-xml", "virsh dumpxml --inactive d1 after libvirt attach"),
                       ("run-d1-dumpxml-live", "virsh dumpxml d1 while it ran with the VF")):
        xml = blocks.get(name, ("", 1))[0]
        if "<domain" not in xml:
            nok(f"{what}: valid against {LIBVIRT_SCHEMA}", "the guest sent no domain XML")
            continue
        err = rng_errors(xml, LIBVIRT_SCHEMA)
        check(f"{what}: valid against {LIBVIRT_SCHEMA}, has a <hostdev>",
              err is None and "<hostdev " in xml, err or "no <hostdev> in it")
    for addr in ("0000:02:00.1", "0000:02:00.0", "0000:04:00.0"):
        check_nodedev(blocks, addr)
    runs = [n[4:] for n in blocks if n.startswith("run-") and not n.endswith((".stderr", ".cmd"))]
    results.append(f"# {T} {len(runs)} devpass and virsh runs sent by the guest")


def main():
    if len(sys.argv) != 3:
        print(f"not ok - {T} host-side checks: usage: check.py MODE DATA_LOG")
        return 0
    try:
        blocks = read_blocks(sys.argv[2])
    except OSError as e:
        print(f"not ok - {T} host-side checks: cannot read {sys.argv[2]}: {e}")
        return 0
    if "complete" not in blocks:
        nok(f"{BOOT}data: guest sent all its data", "the data stream ends early (guest died mid-way?)")
    if MODE == "bind":
        check_bind(blocks)
        print("\n".join(results))
        return 0
    if MODE in ("persist1", "persist2"):
        check_persist(blocks)
        print("\n".join(results))
        return 0
    if MODE == "pools":
        check_pools(blocks)
        print("\n".join(results))
        return 0
    if MODE == "critical":
        check_critical(blocks)
        print("\n".join(results))
        return 0
    if MODE == "bench":
        check_bench(blocks)
        print("\n".join(results))
        return 0
    if MODE == "kinds":
        check_kinds(blocks)
        print("\n".join(results))
        return 0
    if MODE == "libvirt":
        check_libvirt(blocks)
        print("\n".join(results))
        return 0
    if MODE == "vm":
        check_vm(blocks)
        print("\n".join(results))
        return 0
    if "lspci" not in blocks:
        nok("data: lspci output received", "missing")
        print("\n".join(results))
        return 0

    lsnn = parse_vmm(blocks["lspci"][0])
    lsnames = parse_vmm(blocks.get("lspci-names", ("", 0))[0])
    short = {}
    for line in blocks.get("lspci-short", ("", 0))[0].split("\n"):
        if line.strip():
            addr, rest = line.split(" ", 1)
            short[addr] = re.sub(r" \(rev [0-9a-f]{2}\)$", "", rest)
    sysfs = {}
    for line in blocks.get("sysfs", ("", 0))[0].split("\n"):
        parts = line.split()
        if not parts:
            continue
        facts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        sysfs[parts[0]] = {k: (None if v == "-" else v) for k, v in facts.items()}
    groups_sysfs = {}
    for line in blocks.get("iommu-groups", ("", 0))[0].split("\n"):
        parts = line.split()
        if parts:
            groups_sysfs[int(parts[0])] = sorted(parts[1:])
    vfio_nodes = set(blocks.get("dev-vfio", ("", 0))[0].split())

    check("lspci: at least 15 PCI functions in the guest", len(lsnn) >= 15,
          f"only {len(lsnn)}: {sorted(lsnn)}")

    if "devpass-list-json" not in blocks:
        nok("devpass list --json", "devpass was not run in the guest (not built?)")
        print("\n".join(results))
        return 0

    # ------------------------------------------------------------ a. list vs lspci
    lst, err = parse_json_block(blocks, "devpass-list-json")
    rc = blocks["devpass-list-json"][1]
    check("list --json: exits 0 and prints a JSON array", lst is not None and rc == 0
          and isinstance(lst, list), err or f"exit {rc}")
    if not isinstance(lst, list):
        print("\n".join(results))
        return 0
    dp = {}
    for d in lst:
        if isinstance(d, dict) and "address" in d:
            dp[d["address"]] = d
    addrs = [d.get("address") for d in lst if isinstance(d, dict)]
    check("list --json: sorted by address, one entry per function",
          addrs == sorted(addrs) and len(addrs) == len(set(addrs)), f"order: {addrs}")
    missing = sorted(set(lsnn) - set(dp))
    extra = sorted(set(dp) - set(lsnn))
    check(f"list --json: same {len(lsnn)} functions as lspci", not missing and not extra,
          f"missing {missing}, extra {extra}")

    for addr in sorted(lsnn):
        if addr not in dp:
            continue
        r, n, d = lsnn[addr], lsnames.get(addr, {}), dp[addr]
        want = {}
        cname, cls = split_nn(r.get("Class"))
        want["class"] = cls
        want["vendor"] = split_nn(r.get("Vendor"))[1]
        want["device"] = split_nn(r.get("Device"))[1]
        want["subsystem_vendor"] = split_nn(r["SVendor"])[1] if "SVendor" in r else None
        want["subsystem_device"] = split_nn(r["SDevice"])[1] if "SDevice" in r else None
        want["revision"] = r.get("Rev", "00")
        want["prog_if"] = r.get("ProgIf", "00")
        want["driver"] = r.get("Driver")
        want["iommu_group"] = int(r["IOMMUGroup"]) if "IOMMUGroup" in r else None
        if n:
            want["class_name"] = n.get("Class")
            want["vendor_name"] = n.get("Vendor")
            want["device_name"] = n.get("Device")
            want["subsystem_vendor_name"] = n.get("SVendor")
            want["subsystem_device_name"] = n.get("SDevice")
        if addr in short:
            want["description"] = short[addr]
        bad = [f"{k}={d.get(k, '<absent>')!r} (lspci {v!r})" for k, v in want.items()
               if d.get(k, "<absent>") != v]
        check(f"list --json: {addr} matches lspci -vmm (ids, class, names, driver, group)",
              not bad, "; ".join(bad))

    # ------------------------------------------------------------ b. list vs sysfs
    bad_group, bad_parent, bad_numa, bad_modalias, bad_vfio = [], [], [], [], []
    for addr, s in sorted(sysfs.items()):
        d = dp.get(addr)
        if d is None:
            continue
        g = int(s["group"]) if s.get("group") else None
        if d.get("iommu_group") != g:
            bad_group.append(f"{addr}: {d.get('iommu_group')!r} vs sysfs {g!r}")
        if d.get("parent") != s.get("parent"):
            bad_parent.append(f"{addr}: {d.get('parent')!r} vs sysfs {s.get('parent')!r}")
        numa = s.get("numa")
        numa = None if numa in (None, "-1") else int(numa)
        if d.get("numa_node") != numa:
            bad_numa.append(f"{addr}: {d.get('numa_node')!r} vs sysfs {numa!r}")
        if d.get("modalias") != s.get("modalias"):
            bad_modalias.append(f"{addr}: {d.get('modalias')!r} vs {s.get('modalias')!r}")
        want_vfio = f"/dev/vfio/{g}" if g is not None and str(g) in vfio_nodes else None
        if d.get("vfio_group") != want_vfio:
            bad_vfio.append(f"{addr}: {d.get('vfio_group')!r} vs {want_vfio!r}")
    n = len(sysfs)
    check(f"list --json: iommu_group equals the iommu_group link for all {n} functions",
          not bad_group, "; ".join(bad_group))
    check(f"list --json: vfio_group agrees with /dev/vfio ({sorted(vfio_nodes - {'vfio'})})",
          not bad_vfio, "; ".join(bad_vfio))
    check("list --json: parent is the upstream bridge from sysfs", not bad_parent,
          "; ".join(bad_parent))
    check("list --json: numa_node from sysfs (-1 -> null)", not bad_numa, "; ".join(bad_numa))
    check("list --json: modalias from sysfs", not bad_modalias, "; ".join(bad_modalias))
    bad_bridge = [a for a, d in dp.items() if d.get("class") == "0604" and d.get("is_bridge") is not True]
    check("list --json: PCI-to-PCI bridges have is_bridge true", not bad_bridge,
          f"is_bridge not true: {bad_bridge}")
    vfs = sorted(a for a, s in sysfs.items() if s.get("physfn"))
    check("list --json: lists the SR-IOV VFs", len(vfs) >= 1 and all(v in dp for v in vfs),
          f"VFs in sysfs {vfs}, in devpass {[v for v in vfs if v in dp]}")
    if MODE == "on":
        d = dp.get(VFIO_DEV, {})
        g = d.get("iommu_group")
        check(f"list --json: {VFIO_DEV} (on vfio-pci) has driver vfio-pci and vfio_group /dev/vfio/{g}",
              d.get("driver") == "vfio-pci" and g is not None and d.get("vfio_group") == f"/dev/vfio/{g}",
              f"driver {d.get('driver')!r}, vfio_group {d.get('vfio_group')!r}, group {g!r}")
    else:
        grouped = sorted(a for a, d in dp.items() if d.get("iommu_group") is not None)
        check("list --json: no IOMMU groups with intel_iommu=off", not grouped,
              f"groups on {grouped}")

    # ------------------------------------------------------------ d. host-critical
    rootdev = next((a for a, d in dp.items() if d.get("vendor") == "1af4"
                    and d.get("device") in ("1001", "1042")), None)
    d = dp.get(rootdev or "", {})
    check(f"list --json: root disk controller {rootdev} (virtio-blk) is host_critical",
          d.get("host_critical") is True and len(d.get("host_critical_reasons") or []) > 0,
          f"host_critical {d.get('host_critical')!r}, reasons {d.get('host_critical_reasons')!r}")
    routed = re.search(r"^default via \S+ dev (\S+)", blocks.get("net", ("", 0))[0], re.M)
    d = dp.get(ROUTE_MAC_DEV, {})
    check(f"list --json: e1000e {ROUTE_MAC_DEV} with the default route is host_critical",
          routed is not None and d.get("host_critical") is True and d.get("host_critical_reasons"),
          f"default route {'present' if routed else 'missing'}; host_critical {d.get('host_critical')!r}, "
          f"reasons {d.get('host_critical_reasons')!r}")
    for addr, what in ((VFIO_DEV, "e1000e without a route (vfio-pci in the on-guest)"),
                       ("0000:05:01.0", "e1000 without an address"),
                       ("0000:01:00.0", "nvme without a mounted filesystem")):
        d = dp.get(addr, {})
        check(f"list --json: {addr} {what} is not host_critical",
              d.get("host_critical") is False,
              f"host_critical {d.get('host_critical')!r}, reasons {d.get('host_critical_reasons')!r}")
    d = dp.get(BRIDGE, {})
    rp = [r for r in d.get("host_critical_reasons") or [] if "root port" in r.lower()]
    check(f"list --json: {BRIDGE} (conventional PCI-to-PCI bridge, not PCIe) is not called a root port",
          not rp, f"host_critical_reasons {d.get('host_critical_reasons')!r}")
    bad_reasons = [a for a, d in dp.items()
                   if bool(d.get("host_critical")) != bool(d.get("host_critical_reasons"))]
    check("list --json: host_critical_reasons empty exactly when not host_critical",
          not bad_reasons, f"inconsistent: {bad_reasons}")

    # ------------------------------------------------------------ e. groups
    groups, err = parse_json_block(blocks, "devpass-groups-json")
    rc = blocks.get("devpass-groups-json", ("", -1))[1]
    # no IOMMU groups (intel_iommu=off) is "not ready", exit 1, like check (issue 10)
    want_rc = 0 if groups_sysfs else 1
    check(f"groups --json: exits {want_rc} and prints a JSON array",
          isinstance(groups, list) and rc == want_rc, err or f"exit {rc}")
    if isinstance(groups, list):
        dg = {}
        for g in groups:
            try:
                dg[int(g["group"])] = sorted(x["address"] for x in g["devices"])
            except (KeyError, TypeError, ValueError):
                nok("groups --json: entries have group and devices[].address", repr(g)[:200])
                break
        check(f"groups --json: the same {len(groups_sysfs)} groups and members as /sys/kernel/iommu_groups",
              dg == groups_sysfs,
              f"devpass {dict(sorted(dg.items()))} vs sysfs {dict(sorted(groups_sysfs.items()))}")
        if MODE == "on":
            kids = sorted(a for a, s in sysfs.items() if s.get("parent") == BRIDGE)
            share_group(dg, f"devices behind the pci-bridge {BRIDGE}", kids)
            share_group(dg, "functions of multifunction slot 00:09 (virtio, no ACS)",
                        ["0000:00:09.0", "0000:00:09.1"])
            vg = dp.get(VFIO_DEV, {}).get("iommu_group")
            gv = next((g for g in groups if g.get("group") == vg), {})
            check(f"groups --json: group {vg} (only {VFIO_DEV} on vfio-pci behind its root port) is viable",
                  gv.get("viable") is True, f"viable {gv.get('viable')!r}, reasons {gv.get('not_viable_reasons')!r}")
            rg = dp.get(rootdev or "", {}).get("iommu_group")
            gr = next((g for g in groups if g.get("group") == rg), {})
            check(f"groups --json: group {rg} with the root disk is not viable",
                  gr.get("viable") is False, f"viable {gr.get('viable')!r}")
        else:
            check("groups --json: empty with intel_iommu=off", groups == [], f"{len(groups)} groups")

    # ------------------------------------------------------------ show
    check_show(blocks, dp, sysfs, groups_sysfs)

    # ------------------------------------------------------------ c. check
    chk, err = parse_json_block(blocks, "devpass-check-json")
    text, text_rc = blocks.get("devpass-check", ("", -1))
    json_rc = blocks.get("devpass-check-json", ("", -1))[1]
    shape = (isinstance(chk, dict) and isinstance(chk.get("ready"), bool)
             and isinstance(chk.get("checks"), list)
             and all(isinstance(c, dict) and {"name", "status", "detail", "fix"} <= set(c)
                     and c["status"] in ("PASS", "WARN", "FAIL") for c in chk["checks"]))
    check("check --json: {ready, checks[{name,status,detail,fix}]}", shape, err or repr(chk)[:300])
    if shape:
        ready = chk["ready"]
        fails = [c["name"] for c in chk["checks"] if c["status"] == "FAIL"]
        check("check: exit status 0 exactly when ready (text and --json)",
              text_rc == (0 if ready else 1) and json_rc == text_rc,
              f"ready {ready}, `check` exit {text_rc}, `check --json` exit {json_rc}")
        check("check: ready exactly when no check FAILs", ready == (not fails),
              f"ready {ready}, FAIL: {fails}")
        iommu = [c for c in chk["checks"] if "iommu" in c["name"].lower()]
        # group layout verdicts (WARN about mixed groups) are not about whether the IOMMU is on
        core = [c for c in iommu if c["name"].lower() != "iommu-groups"]
        if MODE == "on":
            notpass = [f"{c['name']}={c['status']} ({c['detail']})" for c in core if c["status"] != "PASS"]
            check(f"check --json: IOMMU checks PASS with intel_iommu=on ({', '.join(c['name'] for c in core)})",
                  core and not notpass, notpass or "no check named *iommu*")
            check("check: exits 0 on the intel_iommu=on guest", text_rc == 0,
                  f"exit {text_rc}; FAIL: {fails}")
        else:
            failed = [c for c in core if c["status"] == "FAIL"]
            fixed = [c for c in failed if "intel_iommu=on" in (c.get("fix") or "")]
            check("check --json: an IOMMU check FAILs with intel_iommu=off",
                  failed, f"statuses: {[(c['name'], c['status']) for c in iommu]}")
            check("check --json: the failing IOMMU check's fix names intel_iommu=on", fixed,
                  f"fixes: {[(c['name'], c.get('fix')) for c in failed]}")
            check("check: exits 1 on the intel_iommu=off guest", text_rc == 1, f"exit {text_rc}")
            check("check: text output names the fix intel_iommu=on", "intel_iommu=on" in text,
                  text.strip().splitlines()[-3:] if text.strip() else "no output")
            check("check --json: not ready with intel_iommu=off", ready is False, f"ready {ready}")
        tables = blocks.get("acpi-tables", ("", 0))[0].split()
        if "DMAR" in tables and "IVRS" not in tables:
            amd = [f"{c['name']}: {c['fix']}" for c in chk["checks"]
                   if re.search(r"amd_iommu|AMD-Vi", c.get("fix") or "")]
            check("check --json: on an Intel VT-d machine (ACPI DMAR, no IVRS) no fix points to AMD-Vi/amd_iommu",
                  not amd, f"{amd} (the guest CPU is {first_line(blocks, 'cpuinfo')})")
        for c in chk["checks"]:
            if c["status"] != "PASS":
                results.append(f"# {T} devpass check: {c['status']} {c['name']}: {c['detail']}")

    print("\n".join(results))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # report what was checked so far, then the crash
        print("\n".join(results))
        print(f"not ok - {T} host-side checks: check.py crashed: {type(e).__name__}: {e}")
        sys.exit(0)
