#!/usr/bin/env python3
"""Checks `devpass export proxmox` output the way Proxmox VE reads its resource mappings
(pve-guest-common's PVE::Mapping::PCI and ::USB on PVE::SectionConfig): a bare mapping id
line (pve-configid), then TAB-indented `key value` properties up to an empty line; each
`map` value a property string of the file's format.

    pci.cfg map: node (pve-node), path (BDF[;BDF...], function optional, lower-case hex),
                 id (vvvv:dddd, required), subsystem-id (vvvv:dddd), iommugroup (integer),
                 description (<= 4096)
    usb.cfg map: node, id (vvvv:pppp, required), path (BUS-PORT[.PORT...]), description
    mapping:     description (<= 4096), mdev (boolean, pci.cfg only), map (required here:
                 a mapping without one hands out nothing)

The usb.cfg mappings follow a "# ---- /etc/pve/mapping/usb.cfg" heading.

    proxmox_check.py FILE    prints each problem, exits 1 when there is one."""
import re
import sys

CONFIGID_RE = re.compile(r"^[a-z][a-z0-9_-]+$", re.I)
NODE_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$")
ID_RE = re.compile(r"^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$")
PCI_RE = r"[a-f0-9]{4,}:[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?"
PCI_PATH_RE = re.compile(f"^(?:{PCI_RE};)*{PCI_RE}$")
USB_PATH_RE = re.compile(r"^(\d+)-(\d+(\.\d+)*)$")
INT_RE = re.compile(r"^[+-]?\d+$")
BOOL_VALUES = {"0", "1", "on", "off", "yes", "no", "true", "false"}

MAP_FORMATS = {
    "pci": {"node": (True, NODE_RE), "path": (True, PCI_PATH_RE), "id": (True, ID_RE),
            "subsystem-id": (False, ID_RE), "iommugroup": (False, INT_RE),
            "description": (False, None)},
    "usb": {"node": (True, NODE_RE), "id": (True, ID_RE), "path": (False, USB_PATH_RE),
            "description": (False, None)},
}
MAPPING_KEYS = {"pci": {"description", "mdev", "map"}, "usb": {"description", "map"}}


def property_string(text):
    """PVE::JSONSchema::parse_property_string: key=value pairs, comma-separated."""
    out = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"missing '=' in {part!r}")
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def sections(text):
    """[(file, id, [(key, value)])] and the lines SectionConfig would ignore."""
    found, errors, cur, file = [], [], None, "pci"
    for n, line in enumerate(text.split("\n"), 1):
        if line.startswith("# ---- /etc/pve/mapping/usb.cfg"):
            file = "usb"
        if re.match(r"^\s*#", line):
            continue
        if not line.strip():
            cur = None
            continue
        if cur is None:
            m = re.fullmatch(r"(\S+)\s*", line)
            if not m:
                errors.append(f"line {n}: not a section header: {line!r}")
                continue
            cur = (file, m.group(1), [])
            found.append(cur)
            continue
        m = re.fullmatch(r"\s+(\S+)(\s+(.*\S))?\s*", line)
        if not m:
            errors.append(f"line {n}: ignored by SectionConfig: {line!r}")
            continue
        cur[2].append((m.group(1), m.group(3)))
    return found, errors


def check_map(file, value):
    try:
        m = property_string(value or "")
    except ValueError as e:
        return [f"map {value!r}: {e}"], None
    fmt, problems = MAP_FORMATS[file], []
    for key in m.keys() - fmt.keys():
        problems.append(f"map: unknown key {key!r}")
    for key, (required, pattern) in fmt.items():
        if key not in m:
            if required:
                problems.append(f"map: {key} is required")
            continue
        if pattern and not pattern.match(m[key]):
            problems.append(f"map: {key}={m[key]!r} is not of the format")
        if key == "description" and len(m[key]) > 4096:
            problems.append("map: description longer than 4096")
    return problems, m


def check(text):
    """[(file, id, {key: value-or-list})], problems"""
    found, problems = sections(text)
    out, seen = [], set()
    for file, sid, props in found:
        where = f"{file}.cfg mapping {sid!r}"
        if not CONFIGID_RE.match(sid):
            problems.append(f"{where}: not a pve-configid")
        if (file, sid) in seen:
            problems.append(f"{where}: defined twice")
        seen.add((file, sid))
        keys = [k for k, _ in props]
        for k in set(keys) - MAPPING_KEYS[file]:
            problems.append(f"{where}: unknown property {k!r}")
        for k in ("description", "mdev"):
            if keys.count(k) > 1:
                problems.append(f"{where}: duplicate {k}")
        if "map" not in keys:
            problems.append(f"{where}: no map line")
        entry = {"maps": []}
        for k, v in props:
            if k == "map":
                p, m = check_map(file, v)
                problems += [f"{where}: {x}" for x in p]
                if m is not None:
                    entry["maps"].append(m)
            elif k == "mdev" and (v or "").lower() not in BOOL_VALUES:
                problems.append(f"{where}: mdev {v!r} is no boolean")
            elif k == "description" and (v is None or len(v) > 4096):
                problems.append(f"{where}: description")
            else:
                entry[k] = v
        if file == "usb":   # PVE::QemuServer::USB: more than one per node is refused
            nodes = [m.get("node") for m in entry["maps"]]
            if len(nodes) != len(set(nodes)):
                problems.append(f"{where}: more than one USB device on one node")
        out.append((file, sid, entry))
    return out, problems


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        _, problems = check(f.read())
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
