"""Nova 26.x's own code judging a `devpass export nova`: the text parsed as nova.conf by
oslo.config with Nova's [pci] options, every device_spec through PciDeviceSpec and
Whitelist, every alias through the alias schema and _get_alias_from_config, the flavor
hint through the extra-spec validator and get_pci_requests_from_flavor, and the devices of
a fixture tree put into PciDeviceStats to see what each alias (or Neutron port of a
physical network) can be handed.

Debian's python3-nova only (run with /usr/bin/python3): importing this module raises
ImportError where it is missing."""
import json
import logging
import os
import tempfile

import jsonschema
from nova import conf as nova_conf
from nova import objects
from nova.api.validation.extra_specs import validators
from nova.objects import fields
from nova.pci import devspec, request, stats, utils, whitelist

objects.register_all()
CONF = nova_conf.CONF
logging.getLogger("nova").setLevel(logging.WARNING)


class Judged:
    """What Nova made of one export; `problems` lists everything it refused."""

    def __init__(self):
        self.problems = []
        self.specs = []          # the device_spec values as oslo.config gave them (JSON text)
        self.aliases = []
        self.assignable = set()  # addresses Nova's whitelist lets it assign
        self.by_alias = {}       # alias name -> addresses one request "ALIAS:1" may get
        self.by_physnet = {}     # physical_network -> addresses a Neutron port may get
        self.per_spec = []       # (spec text, addresses it matches)
        self.warnings = []       # Nova's own log at WARNING and above


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def sysfs_is_pf(root):
    """nova.pci.utils.is_physical_function, reading the fixture's sysfs instead of /sys."""
    def is_pf(domain, bus, slot, function):
        path = os.path.join(root, "sys/bus/pci/devices", f"{domain}:{bus}:{slot}.{function}",
                            "sriov_totalvfs")
        try:
            with open(path) as f:
                return int(f.read()) > 0
        except (OSError, ValueError):
            return False
    return is_pf


def parse_conf(text, judged):
    """The export as a nova.conf file, read by oslo.config with Nova's options."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(text)
    try:
        CONF(args=[], project="nova", default_config_files=[f.name], validate_default_values=True)
        judged.specs = list(CONF.pci.device_spec)
        judged.aliases = list(CONF.pci.alias)
    except Exception as e:   # oslo raises several kinds: each is a refusal
        judged.problems.append(f"oslo.config: {type(e).__name__}: {e}")
    finally:
        os.unlink(f.name)


def nova_device(d):
    """The dict libvirt's _get_pcidev_info gives Nova, from a `devpass list --json` entry
    and the fixture's sysfs facts (physfn, sriov_totalvfs)."""
    dev = {"address": d["address"], "vendor_id": d["vendor"], "product_id": d["device"],
           "numa_node": d["numa_node"] if isinstance(d.get("numa_node"), int) and d["numa_node"] >= 0 else None,
           "label": f"label_{d['vendor']}_{d['device']}", "dev_id": "pci_" + d["address"].replace(":", "_").replace(".", "_"),
           "compute_node_id": 1}
    if d.get("physfn"):
        dev["dev_type"] = fields.PciDeviceType.SRIOV_VF
        dev["parent_addr"] = d["physfn"]
    elif d.get("sriov_total", 0) > 0:
        dev["dev_type"] = fields.PciDeviceType.SRIOV_PF
    else:
        dev["dev_type"] = fields.PciDeviceType.STANDARD
    return dev


def _pool_addresses(pools):
    return {dev.address for p in pools for dev in p["devices"]}


def _filter(st, req):
    pools = st._filter_pools_for_spec(st.pools, req)
    pools = st._filter_pools_for_unrequested_pfs(pools, req)
    pools = st._filter_pools_for_unrequested_vdpa_devices(pools, req)
    pools = st._filter_pools_for_unrequested_remote_managed_devices(pools, req)
    return _pool_addresses(pools)


def judge(root, text, flavor, devices):
    """Runs Nova's code over export `text` (flavor: the pci_passthrough:alias value, "" none)
    against `devices` (dicts as nova_device takes them) of the fixture tree `root`."""
    judged = Judged()
    cap = _Capture()
    logging.getLogger("nova").addHandler(cap)
    saved = utils.is_physical_function
    utils.is_physical_function = sysfs_is_pf(root)
    try:
        _judge(judged, text, flavor, devices)
    finally:
        utils.is_physical_function = saved
        logging.getLogger("nova").removeHandler(cap)
        judged.warnings = cap.records
    return judged


def _judge(j, text, flavor, devices):
    parse_conf(text, j)
    if j.problems:
        return
    specs = []
    for s in j.specs:
        try:
            specs.append(devspec.PciDeviceSpec(json.loads(s)))
        except Exception as e:
            j.problems.append(f"PciDeviceSpec({s}): {type(e).__name__}: {e}")
    try:
        wl = whitelist.Whitelist(CONF.pci.device_spec)
    except Exception as e:
        j.problems.append(f"Whitelist: {type(e).__name__}: {e}")
        return
    for a in j.aliases:
        try:
            jsonschema.validate(json.loads(a), request._ALIAS_SCHEMA)
        except Exception as e:
            j.problems.append(f"alias schema ({a}): {type(e).__name__}: {e}")
    try:
        aliases = request._get_alias_from_config()
    except Exception as e:
        j.problems.append(f"_get_alias_from_config: {type(e).__name__}: {e}")
        return
    if flavor:
        try:
            validators.validate("pci_passthrough:alias", flavor)
            reqs = request.get_pci_requests_from_flavor(
                objects.Flavor(extra_specs={"pci_passthrough:alias": flavor}))
            if {r.alias_name for r in reqs.requests} != {p.split(":")[0].strip() for p in flavor.split(",")}:
                j.problems.append(f"flavor {flavor!r}: requests {[r.alias_name for r in reqs.requests]}")
        except Exception as e:
            j.problems.append(f"flavor {flavor!r}: {type(e).__name__}: {e}")
    objs = [objects.PciDevice.create(None, nova_device(d)) for d in devices]
    for s, spec in zip(j.specs, specs):
        j.per_spec.append((s, {o.address for o in objs if spec.match_pci_obj(o)}))
    j.assignable = {o.address for o in objs if wl.device_assignable(nova_device_dict(o))}
    st = stats.PciDeviceStats(objects.NUMATopology(cells=[]), dev_filter=wl)
    for o in objs:
        if o.address in j.assignable:
            st.add_device(o)
    for name in aliases:
        req = request.get_pci_requests_from_flavor(
            objects.Flavor(extra_specs={"pci_passthrough:alias": f"{name}:1"})).requests[0]
        j.by_alias[name] = _filter(st, req)
    physnets = {json.loads(s).get("physical_network") for s in j.specs} - {None}
    for net in physnets:   # a Neutron port of vnic_type direct: only the physnet tag
        req = objects.InstancePCIRequest(count=1, spec=[{"physical_network": net,
                                                         "remote_managed": "False"}],
                                         request_id="port-" + net)
        j.by_physnet[net] = _filter(st, req)


def nova_device_dict(o):
    return {"vendor_id": o.vendor_id, "product_id": o.product_id, "address": o.address,
            "parent_addr": o.parent_addr, "dev_type": o.dev_type}

