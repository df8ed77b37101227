/* devpass — device passthrough manager for Linux KVM hosts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_verb verbs[] = {
	{"list", cmd_list, "List PCI functions with IOMMU group, VFIO group, driver and NUMA node",
	 "devpass list [--class NAME] [--vendor VVVV] [--device [VVVV]:[DDDD]] [--driver NAME|none]\n"
	 "             [--group N] [-s [[[[DOMAIN]:]BUS]:][SLOT][.[FUNC]]] [--tree] [--wide] [--json]\n"
	 "\n"
	 "  --class NAME   gpu, display, nvme, storage, net, usb, audio, bridge, ... or a hex\n"
	 "                 class such as 03, 0300 or 0x0300\n"
	 "  --vendor       vendor id (10de);  --device  vendor:device id, either side may be\n"
	 "                 empty as with lspci -d (10de:2204, 10de:, :2204)\n"
	 "  --driver       bound driver name ('-' and '_' alike), or 'none' for unbound functions\n"
	 "  --group N      members of IOMMU group N\n"
	 "  -s SELECTOR    lspci's slot selector\n"
	 "  --tree         bus topology (bridges, switches, root ports) with groups\n"
	 "  --wide, -w     on a terminal, do not cut lines to its width (a pipe gets them whole)\n"
	 "  Each filter takes a comma list and may be repeated: a function matches when it has\n"
	 "  one of the values of every filter given (--class gpu,audio --vendor 10de).\n"},
	{"show", cmd_show, "Everything about one device before passing it through",
	 "devpass show ADDRESS [--json] [--format libvirt]\n"
	 "\n"
	 "  ADDRESS is DDDD:BB:DD.F or BB:DD.F (domain 0000), as lspci -D prints it.\n"
	 "  --format libvirt  libvirt's node-device XML (as virsh nodedev-dumpxml prints it)\n"},
	{"groups", cmd_groups, "IOMMU groups with members, viability and host-critical flags",
	 "devpass groups [--wide] [--json]\n"
	 "\n"
	 "  Exits 1 when the host has no IOMMU groups (the IOMMU is off): see devpass check.\n"
	 "  --wide, -w  on a terminal, do not cut lines to its width\n"},
	{"check", cmd_check, "Is this host ready for device passthrough? (exit 1 when not)",
	 "devpass check [--json]\n"},
	{"bind", cmd_bind, "Bind devices to vfio-pci (whole IOMMU groups) or to --driver NAME",
	 "devpass bind ADDRESS... [--driver NAME] [--owner USER[:GROUP]] [--force] [--dry-run]\n"
	 "             [--timeout SEC] [--json]\n"
	 "\n"
	 "  Binds each device, and every other endpoint of its IOMMU group, to vfio-pci; bridges\n"
	 "  stay as they are. With --driver NAME only the named devices move, to NAME.\n"
	 "  The plan is computed first; if any step fails, every device touched is put back.\n"
	 "  --owner        hand /dev/vfio/N to USER[:GROUP] so QEMU need not run as root\n"
	 "  --force        also take host-critical or in-use devices (dangerous)\n"
	 "  --dry-run      show the plan, change nothing\n"
	 "  --timeout SEC  give up on an unbind that blocks longer (default 10)\n"},
	{"unbind", cmd_unbind, "Leave devices with no driver",
	 "devpass unbind ADDRESS... [--force] [--dry-run] [--timeout SEC] [--json]\n"
	 "\n"
	 "  Unbinds each named device and sets its driver_override to 'none', so that no\n"
	 "  driver takes it again; 'devpass restore' undoes it.\n"},
	{"restore", cmd_restore, "Give devices back to the driver they had before devpass",
	 "devpass restore ADDRESS...|--all [--force] [--dry-run] [--timeout SEC] [--json]\n"
	 "\n"
	 "  Puts each device back on the driver, and driver_override, it had before devpass\n"
	 "  first changed it (from /var/lib/devpass/devpass.db). Naming one function of a group\n"
	 "  devpass bound whole brings the whole group back. --all restores everything devpass\n"
	 "  changed, also after a crash. Refused while a process holds the device.\n"},
	{"reset", cmd_reset, "Reset a device through the kernel (refused while it is in use)",
	 "devpass reset ADDRESS [--force] [--dry-run] [--timeout SEC] [--json]\n"
	 "\n"
	 "  Writes the kernel's reset attribute, which tries the methods in reset_method\n"
	 "  (flr, pm, bus, ...). Refused while a host driver other than vfio-pci drives the\n"
	 "  device, while a process holds it, or when it is host-critical.\n"},
	{"setup", cmd_setup, "Configure the kernel arguments passthrough needs, through the boot loader",
	 "devpass setup iommu [--no-pt] [--dry-run] [--json]\n"
	 "devpass setup --undo [--dry-run] [--json]       (also: devpass setup iommu --undo)\n"
	 "\n"
	 "  iommu     add the IOMMU arguments this host needs (intel_iommu=on on Intel hosts whose\n"
	 "            kernel does not turn VT-d on by itself; iommu=pt) where the boot loader in\n"
	 "            use reads them: a GRUB drop-in (/etc/default/grub.d/devpass-iommu.cfg, then\n"
	 "            update-grub), GRUB's BLS entries, systemd-boot entries or\n"
	 "            /etc/kernel/cmdline. Prints instructions when it cannot tell the boot loader.\n"
	 "  --no-pt   leave iommu=pt out\n"
	 "  --undo    put back every file 'setup iommu' changed, byte for byte\n"
	 "  --dry-run show the diff of every file and the commands, change nothing\n"},
	{"persist", cmd_persist, "Make bindings and VF counts survive reboots (udev + systemd, or vfio-pci ids)",
	 "devpass persist ADDRESS... [--driver NAME] [--by address|id|serial] [--force] [--dry-run]\n"
	 "devpass persist ADDRESS --vfs N [--by address|id|serial] [--dry-run]\n"
	 "devpass persist --ids ADDRESS... [--force] [--dry-run]\n"
	 "devpass persist --list\n"
	 "devpass persist --remove ADDRESS...|--all|--ids [--dry-run]\n"
	 "devpass persist --apply ADDRESS | --match ADDRESS      (run by udev/systemd at boot)\n"
	 "\n"
	 "  Binds the devices (and the rest of their IOMMU groups, as bind does) at every boot,\n"
	 "  before their host drivers can take them: a rule in /etc/devpass/persist.d, a udev\n"
	 "  rule (/etc/udev/rules.d/05-devpass.rules) that sets driver_override as the device\n"
	 "  appears, and devpass-persist@.service, which runs 'devpass persist --apply'.\n"
	 "  --by KEY   address (default), id (vendor:device + subsystem: every such device),\n"
	 "             or serial (the PCIe Device Serial Number)\n"
	 "  --vfs N    on an SR-IOV PF: create N VFs at boot instead of binding it\n"
	 "  --ids      the classic method: options vfio-pci ids=... in\n"
	 "             /etc/modprobe.d/devpass-vfio.conf, softdeps for the host drivers, and the\n"
	 "             initramfs hook (initramfs-tools, dracut or mkinitcpio)\n"
	 "  --list     persisted rules, the devices they match now and whether they took effect\n"
	 "  --remove   drop rules (all files devpass wrote for them go, nothing else)\n"
	 "  --force    also host-critical devices (dangerous: the host may not boot usefully)\n"
	 "  The boot path calls " "/usr/local/bin/devpass: install devpass first (ninja -C build install).\n"},
	{"pool", cmd_pool, "Resource pools: devices chosen by rules, claimed by owners",
	 "devpass pool create NAME [--type pci|sriov-vf|usb|mdev] [--description TEXT]\n"
	 "                         [--on-release restore|keep-vfio|quarantine]\n"
	 "devpass pool set NAME [--description TEXT] [--on-release POLICY]\n"
	 "devpass pool delete NAME\n"
	 "devpass pool list | show NAME                                     [--json]\n"
	 "devpass pool rule add NAME RULE | rule rm NAME RULE|N\n"
	 "devpass pool from-device ADDRESS [--by id|address|serial] [--pool NAME]\n"
	 "devpass pool export | import FILE|- [--replace]      (-: standard input)\n"
	 "devpass pool clear ADDRESS | gc\n"
	 "\n"
	 "  A RULE is key=value terms that must all match; values are globs and comma lists\n"
	 "  (any of them); a pool holds every device any of its rules matches. Keys:\n"
	 "    vendor device     hex ids (10de, 15b3)      id, subsystem  VVVV:DDDD (10de:2204)\n"
	 "    class             gpu, nvme, net, ... or hex (03, 0302, 010802)\n"
	 "    name              glob on the description (name=\"*RTX 3090*\")\n"
	 "    address, physfn   PCI address of the device / of a VF's PF (0000:8?:00.*)\n"
	 "    serial            NVMe serial or PCIe Device Serial Number\n"
	 "    driver            the driver it had before devpass (none: unbound)\n"
	 "    numa              NUMA node\n"
	 "  IOMMU group numbers are not a key: they change across boots.\n"
	 "  pci pools take whole functions, sriov-vf pools VFs; a device two pools match is a\n"
	 "  conflict and claimable from neither. A member's ids, class and serial are recorded\n"
	 "  when it joins; a member whose identity changed is 'changed', never claimed.\n"
	 "  --on-release   restore: back to the driver it had (default); keep-vfio: stays on\n"
	 "                 vfio-pci; quarantine: not claimable until 'devpass pool clear ADDR'\n"
	 "  from-device    make (or extend) a pool with the rule that selects this device:\n"
	 "                 --by id (ids + subsystem, the default), address or serial\n"
	 "  export/import  the definitions as JSON (round-trips exactly)\n"
	 "  gc             release claims whose process is gone; forget members gone for good\n"},
	{"claim", cmd_claim, "Take free devices of a pool for an owner, bound to vfio-pci",
	 "devpass claim POOL --for OWNER [--count N] [--numa N] [--address ADDRESS] [--pid PID]\n"
	 "                   [--timeout SEC] [--json]\n"
	 "devpass claim --list [--for OWNER] [--json]\n"
	 "\n"
	 "  Makes OWNER hold N members of POOL (default 1), counting those it holds already (they\n"
	 "  are bound to vfio-pci again: claim at every power-on). New ones are free members,\n"
	 "  each with the rest of its IOMMU group, recorded in one transaction, so no device is\n"
	 "  ever claimed twice, then bound to vfio-pci.\n"
	 "  --numa N     prefer devices on NUMA node N\n"
	 "  --address    this member and no other\n"
	 "  --pid PID    the process the claim lives with, e.g. the VM's QEMU (default: none,\n"
	 "               the claim lasts until released). Once it is gone the claim is stale:\n"
	 "               the next claim takes the device over and 'devpass pool gc' releases\n"
	 "               it, unless a process still holds its /dev/vfio node.\n"
	 "  --list       the claims there are (of OWNER), with their functions\n"},
	{"release", cmd_release, "Give an owner's claimed devices back to their pools",
	 "devpass release --for OWNER [ADDRESS...] [--timeout SEC] [--json]\n"
	 "\n"
	 "  Resets each device, then follows its pool's --on-release policy: restore (the driver\n"
	 "  it had before), keep-vfio, or quarantine. Without addresses, everything OWNER holds;\n"
	 "  an OWNER that holds nothing is a note, exit 0 (a VM's stop hook may release on every\n"
	 "  shutdown). A named ADDRESS that OWNER does not hold is an error (exit 1).\n"},
	{"export", cmd_export, "The pools as OpenStack Nova, KubeVirt or Proxmox VE configuration; libvirt hostdev XML",
	 "devpass export nova|kubevirt|proxmox [--pool NAME] [--json]\n"
	 "               [--numa-policy legacy|preferred|required|socket]   (nova)\n"
	 "               [--resource-prefix PREFIX]                         (kubevirt, devpass.io)\n"
	 "               [--node NAME]                                      (proxmox, this host)\n"
	 "\n"
	 "  nova      [pci] device_spec (one exact address per member) and alias entries, and the\n"
	 "            flavor extra spec pci_passthrough:alias\n"
	 "  kubevirt  permittedHostDevices: pciHostDevices (one resource per vendor:device),\n"
	 "            mediatedDevices and usb selectors from mdev and usb pools' rules\n"
	 "  proxmox   /etc/pve/mapping/pci.cfg: one mapping per pool, one map line per member\n"
	 "  Changed, missing, conflicting and unavailable members are left out, with a warning.\n"
	 "\n"
	 "devpass export libvirt ADDR... | --owner OWNER | --vm NAME [--no-address] [--first-bus N]\n"
	 "                       [--json]\n"
	 "  libvirt   <hostdev> elements (managed='no': devpass binds) for every endpoint of each\n"
	 "            IOMMU group, USB devices (vid:pid, bus/device when ambiguous), mdev UUIDs,\n"
	 "            and <interface type='hostdev'> for VFs with a MAC/VLAN; guest addresses on\n"
	 "            q35 root ports from bus N (default 0x10), one bus per device, a device's\n"
	 "            functions kept together; --no-address leaves them to libvirt (docs/libvirt.md)\n"},
	{"vm", cmd_vm, "VMs on QEMU with passed-through devices: create, start, stop, console",
	 "devpass vm create NAME [IMAGE] --memory SIZE --cpus N [--gpu auto|ADDR|VENDOR]...\n"
	 "          [--nvme auto|ADDR]... [--passthrough ADDR[,x-vga=on,rombar=0,romfile=/PATH]]...\n"
	 "          [--pool POOL[:COUNT]]... [--uefi|--bios] [--secure-boot]\n"
	 "          [--cloud-init USER-DATA | --ssh-key FILE] [--graphics none|vnc]\n"
	 "          [--kernel FILE [--initrd FILE] [--append TEXT]] [--numa auto|N] [--hugepages]\n"
	 "          [--start] [--dry-run]\n"
	 "devpass vm start NAME [--dry-run]    |  vm stop NAME [--timeout SEC]\n"
	 "devpass vm console NAME | log NAME    |  vm destroy NAME [--force]\n"
	 "devpass vm list | show NAME | validate NAME                        [--json]\n"
	 "devpass vm export NAME --to libvirt|cloud-hypervisor               [--json]\n"
	 "\n"
	 "  create    validates first, then keeps the definition; IMAGE (qcow2 or raw) is never\n"
	 "            written: the VM's disk is a qcow2 overlay in /var/lib/devpass/vm/NAME.\n"
	 "            --gpu/--nvme auto pick a free device of that kind (whole IOMMU group, never\n"
	 "            the boot GPU or a device the host uses) and print the choice; a vendor\n"
	 "            (nvidia, amd, intel, 10de) narrows it. --pool takes members when the VM\n"
	 "            starts and gives them back when it stops. UEFI is the default unless\n"
	 "            --kernel or --bios; --secure-boot uses Debian's OVMF with Microsoft keys.\n"
	 "            --ssh-key makes a cloud-init seed for that key only (no passwords).\n"
	 "            --numa auto pins vCPUs and memory to the devices' NUMA node.\n"
	 "  start     validate -> take every device (all or nothing) -> launch QEMU; a\n"
	 "            supervisor gives the devices back if QEMU ends by itself.\n"
	 "            --dry-run prints the QEMU command line and changes nothing.\n"
	 "  stop      ACPI powerdown, wait --timeout (60 s), then quit, SIGTERM, SIGKILL; then\n"
	 "            the devices go back (pool policy, or the driver they had).\n"
	 "  console   the serial console; Ctrl-] detaches.   log: what the guest wrote to it.\n"
	 "  export    the VM as a libvirt domain (virsh define) or a Cloud Hypervisor command\n"
	 "            line with its vm.add-device bodies; nothing is claimed (pool members\n"
	 "            shown are the ones a claim would take now).\n"
	 "  QEMU: $DEVPASS_QEMU, else qemu-system-x86_64 (with KVM when /dev/kvm exists).\n"},
	{"libvirt", cmd_libvirt, "libvirt domains: attach pool devices, detach them, the qemu hook",
	 "devpass libvirt attach DOMAIN (--pool POOL[:N] | ADDR...) [--connect URI] [--numa N] [--json]\n"
	 "devpass libvirt detach DOMAIN [ADDR...] [--connect URI] [--json]\n"
	 "devpass libvirt install-hook [--uninstall]\n"
	 "devpass libvirt hook DOMAIN OP SUBOP [EXTRA]      (run by libvirtd, domain XML on stdin)\n"
	 "\n"
	 "  attach        claims for the domain (owner = its name) from the pool, or the named\n"
	 "                pool members, binds them to vfio-pci and adds <hostdev managed='no'>\n"
	 "                elements (alias ua-devpass-*) on new q35 root ports to its persistent\n"
	 "                definition, live too when it runs (single-function devices only).\n"
	 "                All or nothing: a failure keeps the old definition, claims nothing.\n"
	 "  detach        takes devpass's elements (all, or those of ADDR) out, live and\n"
	 "                persistent, then releases their claims (the pool's policy applies).\n"
	 "  install-hook  writes /etc/libvirt/hooks/qemu.d/devpass; libvirtd reads it at its\n"
	 "                next (re)start. The hook refuses prepare/begin when a device of the\n"
	 "                domain is another owner's, host-critical or not on vfio-pci, claims\n"
	 "                free pool members named in the XML again, and releases the domain's\n"
	 "                claims at release/end. It never calls libvirt.\n"
	 "  URI: --connect, else $LIBVIRT_DEFAULT_URI, else qemu:///system (docs/libvirt.md).\n"},
	{"usb", cmd_usb, "USB devices: location, ids, names, drivers, controller, in use or host-critical",
	 "devpass usb list [--all] [--json]\n"
	 "devpass usb show LOCATION|VID:PID[:SERIAL] [--json]\n"
	 "\n"
	 "  list   one row per USB device (root hubs only with --all): LOCATION is the\n"
	 "         bus-port path (3-1.2) that survives a replug on the same port; STATE is\n"
	 "         in-use (an interface claimed through usbfs), host-critical (backs a mounted\n"
	 "         filesystem or swap, or is the only keyboard) or free.\n"
	 "  show   one device; VID:PID must name a single device (add :SERIAL otherwise).\n"
	 "  Exit codes: 0 done, 1 no such device or the inventory failed, 2 bad usage.\n"},
	{"sriov", cmd_sriov, "SR-IOV NIC VFs: count, MAC, VLAN, rates, trust; stored and re-applied",
	 "devpass sriov show PF                                              [--json]\n"
	 "devpass sriov vfs PF N [--no-autoprobe] [--timeout SEC]\n"
	 "devpass sriov set VF-ADDR | --pf PF --vf N [--mac M] [--vlan ID [--qos Q]\n"
	 "          [--proto 802.1Q|802.1ad]] [--max-rate Mbps] [--min-rate Mbps]\n"
	 "          [--spoofchk on|off] [--trust on|off] [--link-state auto|enable|disable]\n"
	 "devpass sriov apply PF   |  sriov forget PF N\n"
	 "\n"
	 "  PF is a network interface (eth1) or a PCI address; settings are stored under the\n"
	 "  PF's PCI address (or its interface name when it is not PCI, as netdevsim).\n"
	 "  show      the VFs: PCI address, netdev, and what the kernel reports over netlink\n"
	 "            (MAC, VLAN, QoS, protocol, rates, spoof checking, trust, link state),\n"
	 "            beside the stored settings.\n"
	 "  vfs       writes sriov_numvfs (through 0 when the count changes), then applies\n"
	 "            the stored settings; --no-autoprobe first clears sriov_drivers_autoprobe\n"
	 "            so the VFs get no driver (they go to vfio-pci).\n"
	 "  set       applies through the PF (the PF must be up), one setting at a time (a\n"
	 "            refused one puts back those before it), then stores them. The MAC is the\n"
	 "            VF's administrative MAC: set it before the VF goes to vfio-pci.\n"
	 "  apply     applies the stored settings again (after the VFs were re-created; the\n"
	 "            boot path of 'devpass persist' does it before binding vfio-pci).\n"
	 "  forget    forgets a VF's stored settings (the VF keeps its current ones).\n"},
	{"mdev", cmd_mdev, "Mediated devices and NVIDIA vGPU: types, create, remove, definitions",
	 "devpass mdev types [PARENT]                                       [--json]\n"
	 "devpass mdev list                                                 [--json]\n"
	 "devpass mdev create PARENT TYPE [--uuid U] [--auto]\n"
	 "devpass mdev remove UUID [--undefine] [--timeout SECONDS]\n"
	 "devpass mdev define PARENT TYPE [--uuid U] [--auto] | undefine UUID\n"
	 "devpass mdev start-parent PARENT | import [DIR]\n"
	 "\n"
	 "  PARENT is a /sys/class/mdev_bus name (mtty, 0000:81:00.0), or a VF with NVIDIA's\n"
	 "  VF vGPU layout (types nvidia-<id>; the device's uuid is then the VF's address).\n"
	 "  create    prints the uuid; --auto also stores a definition started with its parent\n"
	 "  remove    waits --timeout (10 s) while a VFIO user (QEMU) holds the device\n"
	 "  define    stores a definition (auto: started by start-parent; manual: not)\n"
	 "  start-parent  creates the parent's auto definitions that are not active (udev\n"
	 "            MDEV_STATE=registered, boot)\n"
	 "  import    mdevctl's definitions (DIR/<parent>/<uuid>; default /etc/mdevctl.d)\n"},
};

static const size_t nverbs = sizeof(verbs) / sizeof(verbs[0]);
static struct cli_ctx main_ctx;

static void usage(FILE *f)
{
	fprintf(f, "Usage: devpass [--root DIR] [--json] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < nverbs; i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\nOptions:\n"
	           "  --root DIR   read sysfs, procfs and /dev under DIR instead of / (also DEVPASS_ROOT)\n"
	           "  --json       machine-readable output\n"
	           "  -h, --help   help for devpass or for one COMMAND (also: devpass help COMMAND)\n"
	           "  --version    print the version\n"
	           "Options go before or after the command; long names are matched exactly (no\n"
	           "abbreviations). A value that starts with '--' is given as --OPTION=VALUE.\n"
	           "\nExit status: 0 success, 1 the operation failed or the host is not ready, "
	           "2 bad usage.\n");
}

static const struct cli_verb *verb_find(const char *name)
{
	for (size_t i = 0; i < nverbs; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

int cli_print_usage(const char *name)
{
	const struct cli_verb *v = verb_find(name);
	if (!v) {
		usage(stdout);
		return EXIT_OK;
	}
	printf("%s.\n\nUsage: %s", v->summary, v->usage);
	return EXIT_OK;
}

/* ---- the filesystem root -------------------------------------------------------- */

static const char *root_requested;
static bool root_applied;

int cli_root_request(const char *dir)
{
	if (!*dir)   /* an unset shell variable must never mean the live host */
		return cli_error(EXIT_USAGE, "--root needs a directory, not an empty string");
	root_requested = dir;
	return 0;
}

int cli_root_apply(void)
{
	if (root_applied)
		return 0;
	const char *dir = root_requested, *env = getenv("DEVPASS_ROOT");
	if (!dir && env && !*env)
		return cli_error(EXIT_USAGE, "DEVPASS_ROOT is set but empty: unset it to work on this "
		                 "host (/), or set it to a directory");
	if (!dir)
		dir = env;
	if (dp_root_set(dir ? dir : "/") < 0)
		return cli_lib_error(EXIT_USAGE);
	if (dir && !dp_root_has_pci_bus())
		return cli_error(EXIT_USAGE, "%s does not look like a filesystem root (no sys/bus/pci)",
		                 dir);
	root_applied = true;
	return 0;
}

void cli_json_request(void)
{
	main_ctx.json = true;
}

/* ---- the command ------------------------------------------------------------------ */

/* One line and a hint: the whole usage would push the error off the screen. */
static int unknown_command(const char *name)
{
	char hint[256] = "";
	for (size_t i = 0; i < nverbs; i++)
		if (cli_is_near_miss(name, verbs[i].name) ||
		    (strlen(name) >= 3 && strncmp(verbs[i].name, name, strlen(name)) == 0)) {
			size_t len = strlen(hint);
			snprintf(hint + len, sizeof(hint) - len, "%s%s", len ? " or " : "", verbs[i].name);
		}
	if (*hint)
		return cli_error(EXIT_USAGE, "unknown command '%.100s' (did you mean %s?)", name, hint);
	return cli_error(EXIT_USAGE, "unknown command '%.100s' ('devpass --help' lists the commands)",
	                 name);
}

/* devpass help [COMMAND] */
static int help_command(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc > 2)
		return cli_error(EXIT_USAGE, "devpass help takes one command name");
	if (!verb_find(argv[1]))
		return unknown_command(argv[1]);
	return cli_print_usage(argv[1]);
}

int main(int argc, char **argv)
{
	static const struct cli_option main_options[] = {{"version", 0, false, 1}, {NULL, 0, false, 0}};
	struct cli_opts p;
	bool version = false;
	int id;
	cli_opts_init(&p, argc, argv, "", main_options);
	p.stop_at_arg = true;
	while ((id = cli_opts_next(&p)) > 0)
		version = true;
	if (id < 0)
		return p.exit;
	if (version) {
		printf("devpass 0.1.0\n");
		return EXIT_OK;
	}
	if (p.next >= argc) {
		usage(p.help ? stdout : stderr);
		return p.help ? EXIT_OK : EXIT_USAGE;
	}
	const char *name = argv[p.next];
	if (strcmp(name, "help") == 0)
		return help_command(argc - p.next, argv + p.next);
	const struct cli_verb *verb = verb_find(name);
	if (!verb)
		return unknown_command(name);
	if (p.help)
		return cli_print_usage(verb->name);
	int r = verb->run(argc - p.next, argv + p.next, &main_ctx);
	dp_names_release();
	if (fflush(stdout) != 0)
		return cli_error(EXIT_FAILED, "cannot write the output");
	return r;
}
