/* A devpass VM as a complete libvirt domain: the machine `vm start` would give QEMU (q35,
 * the same memory, vCPUs, firmware, disks, network, console and NUMA binding) with its
 * devices as <hostdev> elements on root ports of their own, written with the export unit's
 * libxml2 writer (dp_xml).
 * The uuid is derived from the VM's name (RFC 4122 version 3, MD5 over a devpass
 * namespace), so exporting again and defining again updates the same libvirt domain. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libisofs/libisofs.h>

#include "alloc-util.h"
#include "devpass.h"
#include "export/domain.h"
#include "export/export.h"
#include "export/vmexport.h"
#include "fs/sysroot.h"
#include "util/error.h"

#define DEVPASS_LIBVIRT_NS "https://devpass.dev/libvirt/1"
#define FIRST_HOSTDEV_BUS 1     /* the domain is devpass's own: its devices start at bus 1 */

/* The namespace of devpass's name-based domain uuids (a fixed random uuid). */
static const unsigned char uuid_namespace[16] = {
	0x5b, 0x1e, 0x0c, 0x7a, 0x93, 0x2d, 0x4f, 0x61, 0xa8, 0x3c, 0x0d, 0x51, 0x7e, 0x26, 0xb9, 0x44,
};

int dp_domain_uuid(const char *name, char out[37])
{
	void *ctx = NULL;
	char digest[16];
	if (iso_md5_start(&ctx) < 0)
		return dp_oom();
	iso_md5_compute(ctx, (char *)uuid_namespace, sizeof(uuid_namespace));
	iso_md5_compute(ctx, (char *)name, (int)strlen(name));
	if (iso_md5_end(&ctx, digest) < 0)
		return dp_error_set(-EIO, "MD5 of VM name '%s' failed", name);
	unsigned char *u = (unsigned char *)digest;
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x30);   /* version 3: name-based, MD5 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);   /* the RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
	         u[13], u[14], u[15]);
	return 0;
}

/* ---- the document being written: the writer keeps its own sticky error; err keeps the
 * first failure of the domain itself (a file path, the uuid, a device), with its message ---- */
struct dom {
	struct dp_xml x;
	int err;
	const struct vm_export *vm;
	bool kvm;
	struct dp_strv *warnings;
};

/* An element of text alone: <on_crash>destroy</on_crash>. */
static void text_node(struct dom *d, const char *name, const char *text)
{
	dp_xml_start(&d->x, name);
	dp_xml_text(&d->x, text);
	dp_xml_end(&d->x);
}

/* An element with one attribute, left open for more: <model type='virtio' ... */
static void start_attr(struct dom *d, const char *name, const char *key, const char *value)
{
	dp_xml_start(&d->x, name);
	dp_xml_attr(&d->x, key, value);
}

/* An empty element with one attribute: <model type='virtio'/> and its kind. */
static void node_attr(struct dom *d, const char *name, const char *key, const char *value)
{
	start_attr(d, name, key, value);
	dp_xml_end(&d->x);
}

/* An empty element with two attributes, the most common shape in a domain. */
static void node_attr2(struct dom *d, const char *name, const char *k1, const char *v1,
                       const char *k2, const char *v2)
{
	start_attr(d, name, k1, v1);
	dp_xml_attr(&d->x, k2, v2);
	dp_xml_end(&d->x);
}

/* A guest PCI address on the root complex (bus 0): where `vm start` puts the device too. */
static void root_address(struct dom *d, int slot)
{
	start_attr(d, "address", "type", "pci");
	dp_xml_attr(&d->x, "domain", "0x0000");
	dp_xml_attr(&d->x, "bus", "0x00");
	dp_xml_attrf(&d->x, "slot", "0x%02x", slot);
	dp_xml_attr(&d->x, "function", "0x0");
	dp_xml_end(&d->x);
}

static int host_file(struct dom *d, const char *file, char *out, size_t size)
{
	if (!d->err)
		d->err = vm_export_path(d->vm, false, file, out, size);
	return d->err;
}

/* ---- the parts of the domain --------------------------------------------------------- */
/* The xmlns attribute is written by hand before name: the writer's own namespace support
 * would put it after the other attributes, and the domain keeps libvirt's order. */
static void add_metadata(struct dom *d)
{
	const struct dp_vm_def *def = &d->vm->def;
	dp_xml_start(&d->x, "metadata");
	start_attr(d, "devpass:vm", "xmlns:devpass", DEVPASS_LIBVIRT_NS);
	dp_xml_attr(&d->x, "name", def->name);
	for (size_t i = 0; i < def->ndevices; i++) {
		const struct dp_vm_device *w = &def->devices[i];
		bool usb_pool = w->want == DP_VM_WANT_USB && dp_vm_usb_spec_kind(w->spec) == VM_USB_POOL;
		if (w->want != DP_VM_WANT_POOL && w->want != DP_VM_WANT_MDEV && !usb_pool)
			continue;
		start_attr(d, "devpass:pool", "name", w->spec);
		dp_xml_attrf(&d->x, "count", "%u", w->count ? w->count : 1);
		dp_xml_attr(&d->x, "kind", w->want == DP_VM_WANT_POOL ? "pci" : usb_pool ? "usb" : "mdev");
		dp_xml_end(&d->x);
	}
	dp_xml_end(&d->x);
	dp_xml_end(&d->x);
}

/* vCPUs on the NUMA node's CPUs and memory bound to it, as `vm start` pins them. */
static void add_cpus(struct dom *d)
{
	const struct dp_vm_def *def = &d->vm->def;
	int node_id = d->vm->plan.host_node;
	char path[96], cpus[1024] = "", count[16];
	snprintf(path, sizeof(path), "sys/devices/system/node/node%d/cpulist", node_id);
	if (node_id >= 0 && dp_fs_read_line(path, cpus, sizeof(cpus)) < 0)
		cpus[0] = '\0';
	snprintf(count, sizeof(count), "%u", def->cpus);
	start_attr(d, "vcpu", "placement", "static");
	if (cpus[0])
		dp_xml_attr(&d->x, "cpuset", cpus);
	dp_xml_text(&d->x, count);
	dp_xml_end(&d->x);
	if (node_id < 0)
		return;
	dp_xml_start(&d->x, "numatune");
	start_attr(d, "memory", "mode", "strict");
	dp_xml_attrf(&d->x, "nodeset", "%d", node_id);
	dp_xml_end(&d->x);
	dp_xml_end(&d->x);
}

static void memory_element(struct dom *d, const char *name, unsigned long long mib)
{
	char text[32];
	snprintf(text, sizeof(text), "%llu", mib);
	start_attr(d, name, "unit", "MiB");
	dp_xml_text(&d->x, text);
	dp_xml_end(&d->x);
}

static void add_memory(struct dom *d)
{
	const struct dp_vm_def *def = &d->vm->def;
	memory_element(d, "memory", def->memory_mib);
	memory_element(d, "currentMemory", def->memory_mib);
	add_cpus(d);
	if (!def->hugepages)
		return;
	/* QEMU's memory-backend-file with share=on,prealloc=on */
	dp_xml_start(&d->x, "memoryBacking");
	dp_xml_start(&d->x, "hugepages");
	dp_xml_end(&d->x);
	node_attr(d, "access", "mode", "shared");
	node_attr(d, "allocation", "mode", "immediate");
	dp_xml_end(&d->x);
}

/* UEFI by libvirt's firmware autoselection: the features pick, from QEMU's firmware
 * descriptors, the same OVMF build `vm start` takes (Secure Boot with the Microsoft keys
 * enrolled, or plain); libvirt 9.0 refuses a loader path or type beside autoselection.
 * The variable store is the VM's own copy, made at create. Called with <os> still open
 * for attributes: firmware='efi' is one of them. */
static void add_firmware(struct dom *d)
{
	const struct dp_vm_def *def = &d->vm->def;
	bool secure = def->firmware == DP_VM_FW_SECURE_BOOT;
	char vars[4096];
	if (def->firmware != DP_VM_FW_BIOS && !host_file(d, "OVMF_VARS.fd", vars, sizeof(vars)))
		dp_xml_attr(&d->x, "firmware", "efi");
	dp_xml_start(&d->x, "type");
	dp_xml_attr(&d->x, "arch", "x86_64");
	dp_xml_attr(&d->x, "machine", "q35");
	dp_xml_text(&d->x, "hvm");
	dp_xml_end(&d->x);
	if (def->firmware == DP_VM_FW_BIOS || d->err)
		return;
	dp_xml_start(&d->x, "firmware");
	node_attr2(d, "feature", "enabled", secure ? "yes" : "no", "name", "secure-boot");
	node_attr2(d, "feature", "enabled", secure ? "yes" : "no", "name", "enrolled-keys");
	dp_xml_end(&d->x);
	if (secure)   /* libvirt 9.0 refuses secure='no' beside autoselection */
		node_attr(d, "loader", "secure", "yes");
	text_node(d, "nvram", vars);
}

static void add_boot(struct dom *d)
{
	const struct dp_vm_def *def = &d->vm->def;
	char path[4096];
	dp_xml_start(&d->x, "os");
	add_firmware(d);
	if (def->kernel && !d->err && !(d->err = dp_fs_host_path(def->kernel, path, sizeof(path))))
		text_node(d, "kernel", path);
	if (def->initrd && !d->err && !(d->err = dp_fs_host_path(def->initrd, path, sizeof(path))))
		text_node(d, "initrd", path);
	if (def->append)
		text_node(d, "cmdline", def->append);
	dp_xml_end(&d->x);
}

static void add_os(struct dom *d)
{
	add_boot(d);
	dp_xml_start(&d->x, "features");
	dp_xml_start(&d->x, "acpi");
	dp_xml_end(&d->x);
	dp_xml_start(&d->x, "apic");
	dp_xml_end(&d->x);
	if (d->vm->def.firmware == DP_VM_FW_SECURE_BOOT)   /* that firmware hangs without SMM */
		node_attr(d, "smm", "state", "on");
	dp_xml_end(&d->x);
	/* -cpu host with KVM; TCG's -cpu max is libvirt's mode 'maximum' */
	node_attr2(d, "cpu", "mode", d->kvm ? "host-passthrough" : "maximum", "check", "none");
	node_attr(d, "clock", "offset", "utc");
	text_node(d, "on_poweroff", "destroy");
	text_node(d, "on_reboot", "restart");
	text_node(d, "on_crash", "destroy");
}

/* A file-backed disk: its driver, source and target. */
static void disk_open(struct dom *d, const char *device, const char *format, const char *path,
                      const char *dev, const char *bus)
{
	start_attr(d, "disk", "type", "file");
	dp_xml_attr(&d->x, "device", device);
	node_attr2(d, "driver", "name", "qemu", "type", format);
	node_attr(d, "source", "file", path);
	node_attr2(d, "target", "dev", dev, "bus", bus);
}

static void add_disks(struct dom *d)
{
	const struct dp_vm_def *def = &d->vm->def;
	char path[4096];
	if (def->image && !host_file(d, "disk.qcow2", path, sizeof(path))) {
		disk_open(d, "disk", "qcow2", path, "vda", "virtio");
		node_attr(d, "boot", "order", "1");
		root_address(d, 3);
		dp_xml_end(&d->x);
	}
	if (def->user_data && !host_file(d, "seed.iso", path, sizeof(path))) {
		disk_open(d, "cdrom", "raw", path, "sdc", "sata");
		dp_xml_start(&d->x, "readonly");
		dp_xml_end(&d->x);
		dp_xml_end(&d->x);
	}
}

/* The serial console (its log where `vm log` reads it) and its console alias. */
static void add_console(struct dom *d, const char *log)
{
	start_attr(d, "serial", "type", "pty");
	node_attr2(d, "log", "file", log, "append", "on");
	node_attr(d, "target", "port", "0");
	dp_xml_end(&d->x);
	start_attr(d, "console", "type", "pty");
	node_attr2(d, "target", "type", "serial", "port", "0");
	dp_xml_end(&d->x);
}

/* User networking, the serial console, VNC or none. */
static void add_io(struct dom *d)
{
	start_attr(d, "interface", "type", "user");
	node_attr(d, "model", "type", "virtio");
	root_address(d, 2);
	dp_xml_end(&d->x);
	char log[4096];
	if (host_file(d, "serial.log", log, sizeof(log)))
		return;
	add_console(d, log);
	bool vnc = d->vm->def.graphics == DP_VM_GRAPHICS_VNC;
	if (vnc) {
		start_attr(d, "graphics", "type", "vnc");
		dp_xml_attr(&d->x, "autoport", "yes");
		node_attr2(d, "listen", "type", "address", "address", "127.0.0.1");
		dp_xml_end(&d->x);
	}
	dp_xml_start(&d->x, "video");
	node_attr(d, "model", "type", vnc ? "vga" : "none");
	if (vnc)
		root_address(d, 1);
	dp_xml_end(&d->x);
	node_attr(d, "memballoon", "model", "none");   /* -nodefaults: no balloon */
}

static bool has_usb(const struct dp_hostdev_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->h[i].kind == DP_HOSTDEV_USB)
			return true;
	return false;
}

/* pcie-root, one root port per hostdev bus and one spare for a hot-plug later (a q35
 * root port has one slot; libvirt cannot add one to a running domain); the xHCI
 * controller only when USB devices are passed, as `vm start` does. */
static void add_controllers(struct dom *d)
{
	int last = FIRST_HOSTDEV_BUS - 1;
	for (size_t i = 0; i < d->vm->set.n; i++)
		if (d->vm->set.h[i].guest.set && d->vm->set.h[i].guest.bus > last)
			last = d->vm->set.h[i].guest.bus;
	start_attr(d, "controller", "type", "pci");
	dp_xml_attr(&d->x, "index", "0");
	dp_xml_attr(&d->x, "model", "pcie-root");
	dp_xml_end(&d->x);
	for (int bus = FIRST_HOSTDEV_BUS; bus <= last + 1; bus++) {
		start_attr(d, "controller", "type", "pci");
		dp_xml_attrf(&d->x, "index", "%d", bus);
		dp_xml_attr(&d->x, "model", "pcie-root-port");
		dp_xml_end(&d->x);
	}
	bool usb = has_usb(&d->vm->set);
	start_attr(d, "controller", "type", "usb");
	dp_xml_attr(&d->x, "index", "0");
	dp_xml_attr(&d->x, "model", usb ? "qemu-xhci" : "none");
	if (usb)
		root_address(d, 4);
	dp_xml_end(&d->x);
}

/* Each hostdev as the export unit renders it, written into the domain's own writer. */
static void add_hostdevs(struct dom *d)
{
	for (size_t i = 0; i < d->vm->set.n && !d->err; i++) {
		const struct dp_hostdev *h = &d->vm->set.h[i];
		char note[160];
		if (h->group >= 0)
			snprintf(note, sizeof(note), "%s%s%sIOMMU group %d", h->pool[0] ? "pool " : "",
			         h->pool, h->pool[0] ? ", " : "", h->group);
		else if (h->pool[0])
			snprintf(note, sizeof(note), "pool %s", h->pool);
		else
			snprintf(note, sizeof(note), "named by VM %s", d->vm->def.name);
		dp_xml_comment(&d->x, note);
		d->err = dp_hostdev_render(&d->x, h, 0);
	}
}

static void domain_write(struct dom *d)
{
	const struct dp_vm_def *def = &d->vm->def;
	char uuid[37];
	start_attr(d, "domain", "type", d->kvm ? "kvm" : "qemu");
	text_node(d, "name", def->name);
	if ((d->err = dp_domain_uuid(def->name, uuid)) < 0)
		return;
	text_node(d, "uuid", uuid);
	add_metadata(d);
	add_memory(d);
	add_os(d);
	dp_xml_start(&d->x, "devices");
	add_controllers(d);
	add_disks(d);
	add_io(d);
	add_hostdevs(d);
	dp_xml_end(&d->x);
	dp_xml_end(&d->x);
}

/* Double quotes: the domain reads as libvirt's own dumps and as it always has. */
int dp_domain_xml(const struct vm_export *vm, char **xml, struct dp_strv *warnings)
{
	struct dom d = {.vm = vm, .kvm = dp_fs_exists("dev/kvm"), .warnings = warnings};
	int r = dp_xml_open_quoted(&d.x, '"');
	if (r < 0)
		return r;
	domain_write(&d);
	if (d.err < 0) {
		dp_xml_close(&d.x);
		return d.err;
	}
	return dp_xml_finish(&d.x, xml);
}

static int warnings_take(struct dp_strv *into, const struct dp_strv *from)
{
	for (size_t i = 0; into && i < from->n; i++)
		if (dp_strv_add(into, from->v[i]) < 0)
			return dp_oom();
	return 0;
}

int dp_vm_export_libvirt(const char *name, const struct dp_pci_list *list, char **xml,
                         struct dp_strv *warnings)
{
	*xml = NULL;
	_cleanup_(vm_export_freep) struct vm_export e = {0};
	int r = vm_export_load(list, name, &e) ?: dp_hostdev_set_place(&e.set, FIRST_HOSTDEV_BUS);
	if (r == 0 && !dp_fs_exists("dev/kvm"))
		r = dp_strv_add(&e.set.warnings, "no /dev/kvm on this host: the domain is of type "
		                "'qemu' (TCG, emulated and slow)") < 0 ? dp_oom() : 0;
	return r ?: warnings_take(warnings, &e.set.warnings) ?: dp_domain_xml(&e, xml, warnings);
}
