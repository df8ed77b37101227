#!/usr/bin/python3
"""`devpass export nova` judged by Nova 26.x's own code (Debian's python3-nova), on the
setups of the measured report (shared/reference/nova-real-client.md, S1..S9): every export
is read as nova.conf by oslo.config, parsed by PciDeviceSpec, Whitelist, the alias schema,
_get_alias_from_config and the flavor validator, and the fixture's devices go through
PciDeviceStats: each alias (or Neutron port of a physnet) hands out exactly its pool's
exportable members, never another pool's, never a device outside every pool.

Run with Debian's /usr/bin/python3 (the one python3-nova installs into). DEVPASS=path runs
another build (the suite must fail on the export before issue 13)."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "fixture"))
sys.path.insert(0, HERE)
from tap import check, results, run_groups, summary  # noqa: E402
from test_pools import dp, dpj  # noqa: E402  (devpass --root ROOT ..., and its --json)

DEVPASS = os.environ.get("DEVPASS", os.path.join(TOP, "build", "devpass"))
MKFIXTURE = os.path.join(TOP, "tests", "fixtures", "mkfixture.py")
ONLY = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv[:-1] else None

try:
    import jsonschema  # noqa: E402
    import yaml  # noqa: E402
    import nova_judge  # noqa: E402
    import proxmox_check  # noqa: E402
except ImportError as e:
    print(f"not ok - nova: Nova's code cannot be imported ({e}): "
          "apt-get install python3-nova python3-jsonschema python3-yaml, and run with /usr/bin/python3")
    print("# 0 ok, 1 not ok")
    sys.exit(1)

GPU, AUDIO, NVME, PF, IXGBE = "0000:01:00.0", "0000:01:00.1", "0000:02:00.0", "0000:04:00.0", "0000:07:00.0"
VFS = ["0000:04:00.2", "0000:04:00.3", "0000:04:00.4", "0000:04:00.5"]
VIABLE_DRIVERS = (None, "", "vfio-pci", "pci-stub")
BASE = tempfile.mkdtemp(prefix="devpass-nova-")
_templates = {}


class Setup(Exception):
    pass


def must(root, *args):
    rc, out, err = dp(root, *args)
    if rc != 0:
        raise Setup(f"devpass {' '.join(args)} exited {rc}: {err.strip()[:300]}")
    return out


def tree(scenario="standard", *extra):
    """A fresh copy of a generated tree."""
    key = (scenario,) + extra
    if key not in _templates:
        tpl = os.path.join(BASE, "tpl-%d" % len(_templates))
        subprocess.run([sys.executable, MKFIXTURE, "--scenario", scenario, *extra, tpl], check=True,
                       capture_output=True)
        _templates[key] = tpl
    dst = tempfile.mkdtemp(prefix="r", dir=BASE)
    shutil.rmtree(dst)
    shutil.copytree(_templates[key], dst, symlinks=True)
    return dst


def pool(root, name, *rules, type=None, tag=None, on_release=None):
    args = ["pool", "create", name]
    args += ["--type", type] if type else []
    args += ["--tag", tag] if tag else []
    args += ["--on-release", on_release] if on_release else []
    must(root, *args)
    for r in rules:
        must(root, "pool", "rule", "add", name, r)


def db_insert(root, sql, *params):
    c = sqlite3.connect(os.path.join(root, "var/lib/devpass/devpass.db"))
    c.execute(sql, params)
    c.commit()
    c.close()


def pool_id(root, name):
    c = sqlite3.connect(os.path.join(root, "var/lib/devpass/devpass.db"))
    (pid,) = c.execute("SELECT id FROM pools WHERE name = ?", (name,)).fetchone()
    c.close()
    return pid


def claim_row(root, pool_name, member, owner):
    """The row a claim leaves (the fixture cannot bind: the claim itself is tested elsewhere)."""
    db_insert(root, "INSERT INTO claims (address, pool_id, member, owner, pid, pid_start, claimed_at) "
              "VALUES (?, ?, ?, ?, 0, 0, ?)", member, pool_id(root, pool_name), member, owner,
              int(time.time()))


def quarantine_row(root, pool_name, member, owner):
    db_insert(root, "INSERT INTO quarantine (address, pool_id, owner, since) VALUES (?, ?, ?, ?)",
              member, pool_id(root, pool_name), owner, int(time.time()))


# ---------------------------------------------------------------------------
# what Nova should be able to hand out, worked out without the export

def sysfs_sriov(root, addr):
    """(physfn, sriov_totalvfs) as the tree's sysfs has them: what Nova itself reads."""
    base = os.path.join(root, "sys/bus/pci/devices", addr)
    link = os.path.join(base, "physfn")
    physfn = os.path.basename(os.readlink(link)) if os.path.islink(link) else None
    try:
        total = int(open(os.path.join(base, "sriov_totalvfs")).read())
    except (OSError, ValueError):
        total = 0
    return physfn, total


_devices = {}


def devices(root):
    """Nova's view of the tree's functions, from `devpass list --json` and, for the SR-IOV
    facts, `devpass show ADDR --json` (asked of every function sysfs gives a physfn link or
    an sriov_totalvfs, and checked against them). Cached per tree: claims change no device."""
    if root in _devices:
        return _devices[root]
    rc, devs = dpj(root, "list")
    if rc != 0:
        raise Setup(f"devpass list --json exited {rc}")
    for d in devs:
        d["physfn"], d["sriov_total"] = None, 0
        if sysfs_sriov(root, d["address"]) == (None, 0):
            continue
        rc, shown = dpj(root, "show", d["address"])
        sriov = (shown or {}).get("sriov") or {}
        d["physfn"], d["sriov_total"] = sriov.get("physfn"), sriov.get("total_vfs", 0)
        if (d["physfn"], d["sriov_total"]) != sysfs_sriov(root, d["address"]):
            raise Setup(f"devpass show {d['address']} --json: SR-IOV {sriov} differs from sysfs "
                        f"{sysfs_sriov(root, d['address'])}")
    _devices[root] = devs
    return devs


def group_blocked(devs, addr):
    """Another endpoint of addr's IOMMU group on a host driver: QEMU refuses the group."""
    me = next(d for d in devs if d["address"] == addr)
    return any(d["iommu_group"] == me["iommu_group"] and d["address"] != addr and not d["is_bridge"]
               and d["driver"] not in VIABLE_DRIVERS for d in devs if me["iommu_group"] is not None)


def expected(root, devs, only=None, left_out=()):
    """{pool: addresses} Nova should hand out: free members whose group is viable."""
    out = {}
    for p in dpj(root, "pool", "list")[1]["pools"]:
        if p["type"] not in ("pci", "sriov-vf") or only not in (None, p["name"]):
            continue
        ms = dpj(root, "pool", "show", p["name"])[1]["members"]
        out[p["name"]] = {m["address"] for m in ms if m["state"] == "free"
                          and not group_blocked(devs, m["address"])} - set(left_out)
    return out


def flavor_of(text):
    for line in text.splitlines():
        if '"pci_passthrough:alias"="' in line:
            return line.split('"pci_passthrough:alias"="', 1)[1].rstrip('"')
    return ""


def judged_export(root, tag, args=(), left_out=(), neutron=None):
    """Exports, has Nova judge it, and checks what every alias hands out. neutron:
    {pool: physnet} of pools that go out without an alias, selected by Neutron ports."""
    neutron = neutron or {}
    rc, text, err = dp(root, "export", "nova", *args)
    rc2, j = dpj(root, "export", "nova", *args)
    if not check(f"{tag}: export nova exits 0", rc == 0 and rc2 == 0, f"{rc} {err}"):
        return text, err, None
    devs = devices(root)
    judged = nova_judge.judge(root, text, flavor_of(text), devs)
    check(f"{tag}: Nova reads every line (oslo.config, PciDeviceSpec, Whitelist, alias schema, "
          f"_get_alias_from_config, flavor validator)", not judged.problems, "; ".join(judged.problems))
    check(f"{tag}: Nova logs no warning", not judged.warnings, "; ".join(judged.warnings))
    check(f"{tag}: the text (as nova.conf) and --json agree",
          [json.loads(s) for s in judged.specs] == j.get("device_spec")
          and [json.loads(a) for a in judged.aliases] == j.get("alias"), f"{judged.specs} {j}")
    only = args[args.index("--pool") + 1] if "--pool" in args else None
    want = expected(root, devs, only, left_out)
    every = set().union(*want.values()) if want else set()
    check(f"{tag}: Nova may assign exactly the pools' exportable members",
          judged.assignable == every, f"assignable {sorted(judged.assignable)}, members {sorted(every)}")
    for spec, hits in judged.per_spec:
        check(f"{tag}: device_spec {spec} matches one device", len(hits) == 1, f"matches {sorted(hits)}")
    for name, addrs in sorted(want.items()):
        if not addrs:
            check(f"{tag}: pool {name} with nothing to hand out has no alias", name not in judged.by_alias,
                  str(judged.by_alias.get(name)))
        elif name in neutron:
            check(f"{tag}: pool {name} has no alias (Nova could not tell it from another pool)",
                  name not in judged.by_alias, str(judged.by_alias.get(name)))
            got = judged.by_physnet.get(neutron[name], set())
            check(f"{tag}: a Neutron port on {neutron[name]} gets exactly pool {name}'s members",
                  got == addrs, f"gets {sorted(got)}, pool {sorted(addrs)}")
        else:
            got = judged.by_alias.get(name, set())
            check(f"{tag}: alias {name} hands out exactly its pool's members", got == addrs,
                  f"hands out {sorted(got)}, pool {sorted(addrs)}; outside it: {sorted(got - addrs)}")
    check(f"{tag}: every alias is a pool's", set(judged.by_alias) <= set(want), str(sorted(judged.by_alias)))
    return text, err, judged


# ---------------------------------------------------------------------------
# the setups of the report

def test_s1_gpu_vfio():
    root = tree("vfio-gpu")
    pool(root, "gpu", "class=gpu vendor=10de", type="pci")
    text, err, _ = judged_export(root, "S1 GPU whose audio sibling is on vfio-pci")
    check("S1: the GPU is exported (its group's other function is on vfio-pci)",
          GPU in text and "left out" not in err, err)
    check("S1: a comment names the pool and its IOMMU group before its lines",
          "# pool 'gpu' (pci): 1 device, IOMMU group 1\ndevice_spec" in text, text)
    check("S1: the header counts in the singular", "1 device_spec, 1 alias entry." in text, text)


def test_s2_vfs():
    root = tree()
    pool(root, "cx5vf", "physfn=0000:04:00.0", type="sriov-vf")
    judged_export(root, "S2 VFs by physfn")


def test_s3_nvme():
    root = tree()
    pool(root, "nvme", "serial=S467NX0M123456A", type="pci", on_release="quarantine")
    text, err, _ = judged_export(root, "S3 an unavailable NVMe")
    check("S3: the empty export says so", "0 device_spec, 0 alias entries." in text
          and "has no device to export" in err, f"{text} {err}")


def test_s4_from_device():
    root = tree()
    must(root, "pool", "from-device", IXGBE, "--by", "address", "--pool", "ixgbe")
    must(root, "pool", "from-device", "04:00.0", "--pool", "cx5pf")
    text, err, judged = judged_export(root, "S4 a PF and a plain NIC")
    check("S4: the PF's device_spec is the regex form (no single address for Nova)",
          '"address":{"domain":"0000","bus":"04","slot":"00","function":"[0]"}' in text, text)


def test_s5_gpu_sibling():
    root = tree()
    pool(root, "gpu", "class=gpu vendor=10de", type="pci")
    pool(root, "cx5vf", "physfn=0000:04:00.0", type="sriov-vf")
    text, err, _ = judged_export(root, "S5 GPU (audio sibling on snd_hda_intel) + VFs")
    check("S5: the GPU is left out, the warning names the sibling, its driver and the remedy",
          GPU not in text and f"{GPU} of pool 'gpu' is left out" in err and AUDIO in err
          and "snd_hda_intel" in err and "vfio-pci" in err, err)
    for policy in ("preferred", "required", "socket"):
        text, err, judged = judged_export(root, f"S5 --numa-policy {policy}", ("--numa-policy", policy))
        check(f"S5 --numa-policy {policy}: every alias carries it",
              judged and all(json.loads(a)["numa_policy"] == policy for a in judged.aliases), text)


def bench_pools(root, tags=(None, None)):
    pool(root, "vf-a", "physfn=0000:03:00.0", type="sriov-vf", tag=tags[0])
    pool(root, "vf-b", "physfn=0000:81:00.0", type="sriov-vf", tag=tags[1])
    pool(root, "gpu", "class=gpu vendor=10de", type="pci")


def test_s6_same_id_pools():
    root = tree("bench", "--pfs", "2", "--vfs", "4", "--gpus", "2")
    bench_pools(root)
    rc, out, err = dp(root, "export", "nova")
    check("S6: two VF pools Nova cannot tell apart: the export exits 1 and writes nothing",
          rc == 1 and out == "", f"{rc} {out[:200]}")
    check("S6: the refusal names both pools, says why and how to export one",
          "'vf-a'" in err and "'vf-b'" in err and "vendor, product and device type" in err
          and "--pool" in err, err)
    rc, j = dpj(root, "export", "nova")
    check("S6: --json refuses too", rc == 1, str(rc))
    if rc == 0:   # an export that does not refuse: what Nova then hands out
        judged_export(root, "S6 exported anyway")
    for name in ("vf-a", "vf-b", "gpu"):
        judged_export(root, f"S6 --pool {name}", ("--pool", name))
    # tagged with distinct physnets: specs with physical_network, no alias
    root = tree("bench", "--pfs", "2", "--vfs", "4", "--gpus", "2")
    bench_pools(root, ("physnet=net-a", "physnet=net-b"))
    text, err, judged = judged_export(root, "S6 VF pools on two physnets", neutron={"vf-a": "net-a",
                                                                                    "vf-b": "net-b"})
    check("S6 physnets: a comment says why the VF pools have no alias",
          text.count("# no alias: another pool holds devices of the same vendor") == 2, text)
    check("S6 physnets: the flavor asks for the GPU pool only",
          '"pci_passthrough:alias"="gpu:1"' in text, text)
    # one physnet for both: Neutron could not tell them apart either
    root = tree("bench", "--pfs", "2", "--vfs", "4", "--gpus", "2")
    bench_pools(root, ("physnet=net-a", "physnet=net-a"))
    rc, out, err = dp(root, "export", "nova")
    check("S6 one physnet for both pools: refused", rc == 1 and "'vf-a'" in err, f"{rc} {err}")


def test_s7_mixed():
    root = tree()
    pool(root, "nics", "id=15b3:1017,8086:10fb", type="pci")
    text, err, _ = judged_export(root, "S7 a pool mixing a PF and a plain NIC", left_out=(IXGBE,))
    check("S7: the plain NIC is left out with a warning", "mixes type-PF and type-PCI" in err
          and IXGBE in err, err)


def test_s8_vf_same_id():
    root = tree("vf-sameid")
    must(root, "pool", "from-device", PF, "--pool", "cx5pf")
    pool(root, "vf2", "address=0000:04:00.2,0000:04:00.3", type="sriov-vf")
    text, err, judged = judged_export(root, "S8 PF pool + VF pool, VFs with the PF's id")
    check("S8: the VFs in no pool stay out of Nova's reach",
          judged is not None and not {VFS[2], VFS[3]} & judged.assignable,
          sorted(judged.assignable) if judged else "")


def test_s9_one_vf():
    root = tree()
    must(root, "pool", "from-device", VFS[1], "--by", "address", "--pool", "onevf")
    must(root, "pool", "from-device", GPU, "--pool", "gpu2")
    text, err, _ = judged_export(root, "S9 one VF by address + a GPU by id")
    check("S9: the GPU with its audio sibling on a host driver is left out", GPU not in text
          and AUDIO in err, err)


def test_claimed_quarantined():
    root = tree()
    pool(root, "cx5vf", "physfn=0000:04:00.0", type="sriov-vf", on_release="quarantine")
    claim_row(root, "cx5vf", VFS[1], "vm-beta")
    quarantine_row(root, "cx5vf", VFS[2], "vm-old")
    text, err, judged = judged_export(root, "claimed and quarantined members")
    check("a claimed member is left out, the warning names its owner",
          VFS[1] not in text and f"{VFS[1]} of pool 'cx5vf' is left out: claimed by 'vm-beta'" in err, err)
    check("a quarantined member is left out with a warning",
          VFS[2] not in text and f"{VFS[2]} of pool 'cx5vf' is left out: quarantined" in err, err)
    check("the header says claimed and quarantined members are left out",
          "claimed and quarantined members are left out" in text, text)


def test_bad_input():
    root = tree()
    pool(root, "cx5vf", "physfn=0000:04:00.0", type="sriov-vf")
    rc, out, err = dp(root, "export", "nova", "--pool", "nope")
    check("export nova --pool of an unknown pool exits 1", rc == 1, f"{rc} {err}")
    rc, out, err = dp(root, "export", "nova", "--numa-policy", "sometimes")
    check("export nova --numa-policy sometimes exits 2", rc == 2, f"{rc} {err}")


# ---------------------------------------------------------------------------
# the goldens of the pools suite, judged by the platforms' rules

GOLDEN = os.path.join(TOP, "tests", "golden", "pools")
KV_SCHEMA = json.load(open(os.path.join(HERE, "kubevirt-permittedhostdevices.schema.json")))


def golden_tree():
    """The tree and pools tests/fixture/test_pools.py makes its export goldens from."""
    root = tree()
    pool(root, "gpus", "class=gpu vendor=10de", type="pci", on_release="keep-vfio")
    must(root, "pool", "set", "gpus", "--description", "RTX 3090 for CUDA VMs")
    pool(root, "vfs", "physfn=04:00.0", type="sriov-vf", on_release="quarantine")
    pool(root, "nics", "id=8086:10fb,8086:1533", type="pci")
    must(root, "pool", "set", "nics", "--description", "10G NICs")
    pool(root, "keys", "id=046d:c31c", type="usb")
    must(root, "pool", "set", "keys", "--description", "Logitech keyboards")
    claim_row(root, "vfs", VFS[1], "vm-beta")
    return root


def read_golden(name):
    with open(os.path.join(GOLDEN, name)) as f:
        return f.read()


def test_goldens():
    root = golden_tree()
    text, err, judged = judged_export(root, "golden nova.txt tree")
    check("golden nova.txt is this export, so Nova's verdict above is the golden's",
          text == read_golden("nova.txt"), "the export differs from tests/golden/pools/nova.txt")
    check_kubevirt(root, "golden kubevirt tree")
    check("golden kubevirt.json is this export", dpj(root, "export", "kubevirt")[1] ==
          json.loads(read_golden("kubevirt.json")), "differs")
    check_proxmox(root, "golden proxmox tree")
    check("golden proxmox.txt is this export", dp(root, "export", "proxmox", "--node", "pve1")[1] ==
          read_golden("proxmox.txt"), "differs")
    _, problems = proxmox_check.check(read_golden("proxmox.txt"))
    check("golden proxmox.txt: Proxmox reads every mapping", not problems, "; ".join(problems))
    doc = yaml.safe_load(read_golden("kubevirt-mdev.txt"))
    check("golden kubevirt-mdev.txt: valid against KubeVirt's permittedHostDevices schema",
          not schema_errors(doc), "; ".join(schema_errors(doc)))


# ---------------------------------------------------------------------------
# KubeVirt: the CR's schema, and what its selectors offer

def schema_errors(doc):
    v = jsonschema.Draft7Validator(KV_SCHEMA)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(doc)]


def check_kubevirt(root, tag, args=()):
    rc, text, err = dp(root, "export", "kubevirt", *args)
    rc2, j = dpj(root, "export", "kubevirt", *args)
    if not check(f"{tag}: export kubevirt exits 0", rc == 0 and rc2 == 0, f"{rc} {err}"):
        return None, err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        doc = {"error": str(e)}
    check(f"{tag}: the YAML (read by a YAML parser) is the --json form", doc == j, f"{doc} vs {j}")
    errors = schema_errors(j)
    check(f"{tag}: valid against KubeVirt's permittedHostDevices schema", not errors, "; ".join(errors))
    devs = devices(root)
    for e in j["permittedHostDevices"].get("pciHostDevices", []):
        pool_name = e["resourceName"].split("/", 1)[1]
        free = {m["address"] for m in dpj(root, "pool", "show", pool_name)[1]["members"]
                if m["state"] == "free"}
        offered = {d["address"] for d in devs
                   if f"{d['vendor']}:{d['device']}".upper() == e["pciVendorSelector"].upper()}
        check(f"{tag}: selector {e['pciVendorSelector']} covers a free member of {pool_name}",
              offered & free, f"offers {sorted(offered)}, free {sorted(free)}")
        if offered - free:
            check(f"{tag}: selector {e['pciVendorSelector']} offers {len(offered - free)} device(s) "
                  f"beyond {pool_name}'s free members: warned",
                  f"selector {e['pciVendorSelector']} for pool '{pool_name}' also offers "
                  f"{len(offered - free)} device(s)" in err, err)
    return j, err


def test_kubevirt():
    kv_bad = {"permittedHostDevices": {"pciHostDevices": [{"pciVendorSelector": "10de:2204",
                                                          "resourceName": "gpus"}],
                                       "usb": [{"resourceName": "a.b/k", "selectors": [{"vendor": "046d"}]}],
                                       "mediatedDevice": []}}
    errors = schema_errors(kv_bad)
    check("the KubeVirt schema refuses a resourceName without domain, a selector without "
          "product and an unknown list", len(errors) == 3, "; ".join(errors))
    root = tree()
    pool(root, "cx5vf", "physfn=0000:04:00.0", type="sriov-vf")
    check_kubevirt(root, "kubevirt VFs (one already on vfio-pci)")
    claim_row(root, "cx5vf", VFS[1], "vm-beta")
    j, err = check_kubevirt(root, "kubevirt VFs, one claimed")
    check("kubevirt: the claimed member is left out with a warning",
          f"{VFS[1]} of pool 'cx5vf' is left out: claimed by 'vm-beta'" in (err or ""), err)
    rc, out, err = dp(root, "export", "kubevirt", "--resource-prefix", "Devpass.IO")
    check("kubevirt --resource-prefix that is no DNS subdomain exits 2", rc == 2, f"{rc} {err}")
    check_kubevirt(root, "kubevirt --resource-prefix example.com", ("--resource-prefix", "example.com"))
    root = tree("usb")
    pool(root, "keys", "id=046d:c31c", type="usb")
    pool(root, "zig", "id=0403:6001", type="usb")
    j, err = check_kubevirt(root, "kubevirt usb pools")
    check("kubevirt: a usb selector that also offers the host's only keyboard says so",
          "usb selector 046d:c31c for pool 'keys' also offers 1-2, which is unavailable" in (err or ""), err)
    root = tree("mdev")
    rc, types = dpj(root, "mdev", "types")
    name = next((t.get("name") for t in (types if isinstance(types, list) else []) if t.get("name")), None)
    if name:
        pool(root, "vgpu", f'name="{name}"', type="mdev")
        check_kubevirt(root, "kubevirt mdev pool")


# ---------------------------------------------------------------------------
# Proxmox: its mapping syntax

def check_proxmox(root, tag, args=("--node", "pve1")):
    rc, text, err = dp(root, "export", "proxmox", *args)
    rc2, j = dpj(root, "export", "proxmox", *args)
    if not check(f"{tag}: export proxmox exits 0", rc == 0 and rc2 == 0, f"{rc} {err}"):
        return None, err
    found, problems = proxmox_check.check(text)
    check(f"{tag}: Proxmox reads every mapping (pci.cfg and usb.cfg formats)", not problems,
          "; ".join(problems))
    as_json = [(m["id"], m.get("file", "pci.cfg")) for m in j]
    check(f"{tag}: the text and --json hold the same mappings in the same files",
          [(sid, f"{file}.cfg") for file, sid, _ in found] == as_json, f"{found} vs {as_json}")
    for file, sid, entry in found:
        free = {m["address"] for m in dpj(root, "pool", "show", sid)[1]["members"] if m["state"] == "free"}
        paths = {m.get("path") for m in entry["maps"]}
        want = free if file == "pci" else {min(free)} if free else set()
        check(f"{tag}: mapping {sid} maps {'its free members' if file == 'pci' else 'one free member'}",
              paths == want if file == "pci" else paths <= free and len(paths) == 1,
              f"{sorted(paths)} vs {sorted(want)}")
    return found, err


def test_proxmox():
    bad = "9x\n\tmap node=pve_1,path=0000:01:00,id=10de\n\n# ---- /etc/pve/mapping/usb.cfg\n\nkk\n\tmap node=a,id=046d:c31c,path=1-1,iommugroup=3\n"
    _, problems = proxmox_check.check(bad)
    check("the Proxmox checker refuses a bad id, node and vendor id, and a PCI key in usb.cfg",
          len(problems) == 4, "; ".join(problems))
    root = tree()
    pool(root, "cx5vf", "physfn=0000:04:00.0", type="sriov-vf", on_release="quarantine")
    claim_row(root, "cx5vf", VFS[1], "vm-beta")
    quarantine_row(root, "cx5vf", VFS[2], "vm-old")
    must(root, "pool", "from-device", "04:00.0", "--pool", "cx5pf")
    found, err = check_proxmox(root, "proxmox VFs, one claimed, one quarantined; a PF")
    check("proxmox: claimed and quarantined members are left out with warnings",
          f"{VFS[1]} of pool 'cx5vf' is left out: claimed" in (err or "")
          and f"{VFS[2]} of pool 'cx5vf' is left out: quarantined" in (err or ""), err)
    root = tree("usb")
    pool(root, "ser", "class=vendor", type="usb")
    pool(root, "cdc", "id=1d6b:0104", type="usb")
    found, err = check_proxmox(root, "proxmox usb pools")
    check("proxmox: the usb.cfg mappings come after one usb.cfg heading",
          found is not None and [f for f, _, _ in found] == sorted(f for f, _, _ in found), str(found))


def main():
    if not os.access(DEVPASS, os.X_OK):
        print(f"not ok - nova suite: {DEVPASS} is not built")
        return 1
    groups = [("S1", test_s1_gpu_vfio), ("S2", test_s2_vfs), ("S3", test_s3_nvme),
              ("S4", test_s4_from_device), ("S5", test_s5_gpu_sibling), ("S6", test_s6_same_id_pools),
              ("S7", test_s7_mixed), ("S8", test_s8_vf_same_id), ("S9", test_s9_one_vf),
              ("claimed", test_claimed_quarantined), ("bad-input", test_bad_input),
              ("goldens", test_goldens), ("kubevirt", test_kubevirt), ("proxmox", test_proxmox)]
    try:
        run_groups(groups, ONLY, (Setup,))
    finally:
        shutil.rmtree(BASE, ignore_errors=True)
    summary()
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
