/* A devpass VM as a complete libvirt domain: the machine `vm start` would give QEMU (q35,
 * the same memory, vCPUs, firmware, disks, network, console and NUMA binding) with its
 * devices as <hostdev> elements on root ports of their own, built with libxml2's tree API.
 * The uuid is derived from the VM's name (RFC 4122 version 3, MD5 over a devpass
 * namespace), so exporting again and defining again updates the same libvirt domain. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libisofs/libisofs.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include "alloc-util.h"
#include "devpass.h"
#include "export/domain.h"
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

/* ---- a tree under construction: the first failure is kept, later calls do nothing ---- */
struct dom {
	xmlDocPtr doc;
	int err;
	const struct vm_export *vm;
	bool kvm;
	struct dp_strv *warnings;
};

static xmlNodePtr node(struct dom *d, xmlNodePtr parent, const char *name, const char *text)
{
	if (d->err || !parent)
		return NULL;
	xmlNodePtr n = xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
	if (!n)
		d->err = dp_oom();
	return n;
}

static void attr(struct dom *d, xmlNodePtr n, const char *name, const char *value)
{
	if (!d->err && n && !xmlNewProp(n, BAD_CAST name, BAD_CAST value))
		d->err = dp_oom();
}

static void attrf(struct dom *d, xmlNodePtr n, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void attrf(struct dom *d, xmlNodePtr n, const char *name, const char *fmt, ...)
{
	char v[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	attr(d, n, name, v);
}

static xmlNodePtr nodef(struct dom *d, xmlNodePtr parent, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static xmlNodePtr nodef(struct dom *d, xmlNodePtr parent, const char *name, const char *fmt, ...)
{
	char v[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	return node(d, parent, name, v);
}

/* An element with one attribute: <model type='virtio'/> and its kind. */
static xmlNodePtr node_attr(struct dom *d, xmlNodePtr parent, const char *name, const char *key,
                            const char *value)
{
	xmlNodePtr n = node(d, parent, name, NULL);
	attr(d, n, key, value);
	return n;
}

static void comment(struct dom *d, xmlNodePtr parent, const char *text)
{
	if (d->err || !parent)
		return;
	xmlNodePtr c = xmlNewDocComment(d->doc, BAD_CAST text);
	if (!c || !xmlAddChild(parent, c)) {
		xmlFreeNode(c);
		d->err = dp_oom();
	}
}

/* A guest PCI address on the root complex (bus 0): where `vm start` puts the device too. */
static void root_address(struct dom *d, xmlNodePtr parent, int slot)
{
	xmlNodePtr a = node_attr(d, parent, "address", "type", "pci");
	attr(d, a, "domain", "0x0000");
	attr(d, a, "bus", "0x00");
	attrf(d, a, "slot", "0x%02x", slot);
	attr(d, a, "function", "0x0");
}

static int host_file(struct dom *d, const char *file, char *out, size_t size)
{
	if (!d->err)
		d->err = vm_export_path(d->vm, false, file, out, size);
	return d->err;
}

/* ---- the parts of the domain --------------------------------------------------------- */
static void add_metadata(struct dom *d, xmlNodePtr dom)
{
	const struct dp_vm_def *def = &d->vm->def;
	xmlNodePtr md = node(d, dom, "metadata", NULL);
	xmlNodePtr vm = node(d, md, "vm", NULL);
	xmlNsPtr ns = d->err || !vm ? NULL : xmlNewNs(vm, BAD_CAST DEVPASS_LIBVIRT_NS, BAD_CAST "devpass");
	if (!d->err && !ns)
		d->err = dp_oom();
	if (d->err)
		return;
	xmlSetNs(vm, ns);
	attr(d, vm, "name", def->name);
	for (size_t i = 0; i < def->ndevices; i++) {
		const struct dp_vm_device *w = &def->devices[i];
		bool usb_pool = w->want == DP_VM_WANT_USB && dp_vm_usb_spec_kind(w->spec) == VM_USB_POOL;
		if (w->want != DP_VM_WANT_POOL && w->want != DP_VM_WANT_MDEV && !usb_pool)
			continue;
		xmlNodePtr p = node(d, vm, "pool", NULL);
		if (p)
			xmlSetNs(p, ns);
		attr(d, p, "name", w->spec);
		attrf(d, p, "count", "%u", w->count ? w->count : 1);
		attr(d, p, "kind", w->want == DP_VM_WANT_POOL ? "pci" : usb_pool ? "usb" : "mdev");
	}
}

/* vCPUs on the NUMA node's CPUs and memory bound to it, as `vm start` pins them. */
static void add_cpus(struct dom *d, xmlNodePtr dom)
{
	const struct dp_vm_def *def = &d->vm->def;
	int node_id = d->vm->plan.host_node;
	char path[96], cpus[1024] = "";
	snprintf(path, sizeof(path), "sys/devices/system/node/node%d/cpulist", node_id);
	if (node_id >= 0 && dp_fs_read_line(path, cpus, sizeof(cpus)) < 0)
		cpus[0] = '\0';
	xmlNodePtr v = nodef(d, dom, "vcpu", "%u", def->cpus);
	attr(d, v, "placement", "static");
	if (cpus[0])
		attr(d, v, "cpuset", cpus);
	if (node_id < 0)
		return;
	xmlNodePtr m = node_attr(d, node(d, dom, "numatune", NULL), "memory", "mode", "strict");
	attrf(d, m, "nodeset", "%d", node_id);
}

static void add_memory(struct dom *d, xmlNodePtr dom)
{
	const struct dp_vm_def *def = &d->vm->def;
	attr(d, nodef(d, dom, "memory", "%llu", def->memory_mib), "unit", "MiB");
	attr(d, nodef(d, dom, "currentMemory", "%llu", def->memory_mib), "unit", "MiB");
	add_cpus(d, dom);
	if (!def->hugepages)
		return;
	/* QEMU's memory-backend-file with share=on,prealloc=on */
	xmlNodePtr mb = node(d, dom, "memoryBacking", NULL);
	node(d, mb, "hugepages", NULL);
	node_attr(d, mb, "access", "mode", "shared");
	node_attr(d, mb, "allocation", "mode", "immediate");
}

/* UEFI by libvirt's firmware autoselection: the features pick, from QEMU's firmware
 * descriptors, the same OVMF build `vm start` takes (Secure Boot with the Microsoft keys
 * enrolled, or plain); libvirt 9.0 refuses a loader path or type beside autoselection.
 * The variable store is the VM's own copy, made at create. */
static void add_firmware(struct dom *d, xmlNodePtr os)
{
	const struct dp_vm_def *def = &d->vm->def;
	if (def->firmware == DP_VM_FW_BIOS)
		return;
	bool secure = def->firmware == DP_VM_FW_SECURE_BOOT;
	char vars[4096];
	if (host_file(d, "OVMF_VARS.fd", vars, sizeof(vars)))
		return;
	attr(d, os, "firmware", "efi");
	xmlNodePtr feats = node(d, os, "firmware", NULL);
	attr(d, node_attr(d, feats, "feature", "enabled", secure ? "yes" : "no"), "name", "secure-boot");
	attr(d, node_attr(d, feats, "feature", "enabled", secure ? "yes" : "no"), "name", "enrolled-keys");
	if (secure)   /* libvirt 9.0 refuses secure='no' beside autoselection */
		node_attr(d, os, "loader", "secure", "yes");
	node(d, os, "nvram", vars);
}

static void add_os(struct dom *d, xmlNodePtr dom)
{
	const struct dp_vm_def *def = &d->vm->def;
	xmlNodePtr os = node(d, dom, "os", NULL);
	xmlNodePtr type = node(d, os, "type", "hvm");
	attr(d, type, "arch", "x86_64");
	attr(d, type, "machine", "q35");
	add_firmware(d, os);
	char path[4096];
	if (def->kernel && !d->err && !(d->err = dp_fs_host_path(def->kernel, path, sizeof(path))))
		node(d, os, "kernel", path);
	if (def->initrd && !d->err && !(d->err = dp_fs_host_path(def->initrd, path, sizeof(path))))
		node(d, os, "initrd", path);
	if (def->append)
		node(d, os, "cmdline", def->append);
	xmlNodePtr feats = node(d, dom, "features", NULL);
	node(d, feats, "acpi", NULL);
	node(d, feats, "apic", NULL);
	if (def->firmware == DP_VM_FW_SECURE_BOOT)   /* that firmware hangs without SMM */
		node_attr(d, feats, "smm", "state", "on");
	/* -cpu host with KVM; TCG's -cpu max is libvirt's mode 'maximum' */
	attr(d, node_attr(d, dom, "cpu", "mode", d->kvm ? "host-passthrough" : "maximum"), "check", "none");
	node_attr(d, dom, "clock", "offset", "utc");
	node(d, dom, "on_poweroff", "destroy");
	node(d, dom, "on_reboot", "restart");
	node(d, dom, "on_crash", "destroy");
}

static void add_disks(struct dom *d, xmlNodePtr devs)
{
	const struct dp_vm_def *def = &d->vm->def;
	char path[4096];
	if (def->image && !host_file(d, "disk.qcow2", path, sizeof(path))) {
		xmlNodePtr disk = node_attr(d, devs, "disk", "type", "file");
		attr(d, disk, "device", "disk");
		attr(d, node_attr(d, disk, "driver", "name", "qemu"), "type", "qcow2");
		node_attr(d, disk, "source", "file", path);
		attr(d, node_attr(d, disk, "target", "dev", "vda"), "bus", "virtio");
		node_attr(d, disk, "boot", "order", "1");
		root_address(d, disk, 3);
	}
	if (def->user_data && !host_file(d, "seed.iso", path, sizeof(path))) {
		xmlNodePtr cd = node_attr(d, devs, "disk", "type", "file");
		attr(d, cd, "device", "cdrom");
		attr(d, node_attr(d, cd, "driver", "name", "qemu"), "type", "raw");
		node_attr(d, cd, "source", "file", path);
		attr(d, node_attr(d, cd, "target", "dev", "sdc"), "bus", "sata");
		node(d, cd, "readonly", NULL);
	}
}

/* User networking, the serial console (its log where `vm log` reads it), VNC or none. */
static void add_io(struct dom *d, xmlNodePtr devs)
{
	xmlNodePtr net = node_attr(d, devs, "interface", "type", "user");
	node_attr(d, net, "model", "type", "virtio");
	root_address(d, net, 2);
	char log[4096];
	if (host_file(d, "serial.log", log, sizeof(log)))
		return;
	xmlNodePtr serial = node_attr(d, devs, "serial", "type", "pty");
	attr(d, node_attr(d, serial, "log", "file", log), "append", "on");
	node_attr(d, serial, "target", "port", "0");
	attr(d, node_attr(d, node_attr(d, devs, "console", "type", "pty"), "target", "type", "serial"),
	     "port", "0");
	bool vnc = d->vm->def.graphics == DP_VM_GRAPHICS_VNC;
	if (vnc) {
		xmlNodePtr g = node_attr(d, devs, "graphics", "type", "vnc");
		attr(d, g, "autoport", "yes");
		attr(d, node_attr(d, g, "listen", "type", "address"), "address", "127.0.0.1");
	}
	xmlNodePtr video = node(d, devs, "video", NULL);
	node_attr(d, video, "model", "type", vnc ? "vga" : "none");
	if (vnc)
		root_address(d, video, 1);
	node_attr(d, devs, "memballoon", "model", "none");   /* -nodefaults: no balloon */
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
static void add_controllers(struct dom *d, xmlNodePtr devs)
{
	int last = FIRST_HOSTDEV_BUS - 1;
	for (size_t i = 0; i < d->vm->set.n; i++)
		if (d->vm->set.h[i].guest.set && d->vm->set.h[i].guest.bus > last)
			last = d->vm->set.h[i].guest.bus;
	attr(d, node_attr(d, devs, "controller", "type", "pci"), "index", "0");
	xmlNodePtr root = devs && !d->err ? xmlGetLastChild(devs) : NULL;
	attr(d, root, "model", "pcie-root");
	for (int bus = FIRST_HOSTDEV_BUS; bus <= last + 1; bus++) {
		xmlNodePtr port = node_attr(d, devs, "controller", "type", "pci");
		attrf(d, port, "index", "%d", bus);
		attr(d, port, "model", "pcie-root-port");
	}
	xmlNodePtr usb = node_attr(d, devs, "controller", "type", "usb");
	attr(d, usb, "index", "0");
	attr(d, usb, "model", has_usb(&d->vm->set) ? "qemu-xhci" : "none");
	if (has_usb(&d->vm->set))
		root_address(d, usb, 4);
}

/* Each hostdev as the export unit renders it, parsed back and adopted into the domain. */
static void add_hostdev(struct dom *d, xmlNodePtr devs, const struct dp_hostdev *h)
{
	_cleanup_free_ char *text = NULL;
	if (d->err || (d->err = dp_hostdev_xml(h, 0, &text)) < 0)
		return;
	xmlDocPtr one = xmlReadMemory(text, (int)strlen(text), "hostdev.xml", NULL,
	                              XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	xmlNodePtr copy = one ? xmlDocCopyNode(xmlDocGetRootElement(one), d->doc, 1) : NULL;
	xmlFreeDoc(one);
	if (!copy || !xmlAddChild(devs, copy)) {
		xmlFreeNode(copy);
		d->err = dp_error_set(-EIO, "the element of %s could not be read back", h->alias);
	}
}

static void add_hostdevs(struct dom *d, xmlNodePtr devs)
{
	for (size_t i = 0; i < d->vm->set.n && !d->err; i++) {
		const struct dp_hostdev *h = &d->vm->set.h[i];
		char note[160];
		if (h->group >= 0)
			snprintf(note, sizeof(note), " %s%s%sIOMMU group %d ", h->pool[0] ? "pool " : "",
			         h->pool, h->pool[0] ? ", " : "", h->group);
		else if (h->pool[0])
			snprintf(note, sizeof(note), " pool %s ", h->pool);
		else
			snprintf(note, sizeof(note), " named by VM %s ", d->vm->def.name);
		comment(d, devs, note);
		add_hostdev(d, devs, h);
	}
}

static xmlNodePtr domain_tree(struct dom *d)
{
	const struct dp_vm_def *def = &d->vm->def;
	char uuid[37];
	xmlNodePtr dom = xmlNewDocNode(d->doc, NULL, BAD_CAST "domain", NULL);
	if (!dom)
		d->err = dp_oom();
	else
		xmlDocSetRootElement(d->doc, dom);
	attr(d, dom, "type", d->kvm ? "kvm" : "qemu");
	node(d, dom, "name", def->name);
	if (!d->err)
		d->err = dp_domain_uuid(def->name, uuid);
	node(d, dom, "uuid", uuid);
	add_metadata(d, dom);
	add_memory(d, dom);
	add_os(d, dom);
	xmlNodePtr devs = node(d, dom, "devices", NULL);
	add_controllers(d, devs);
	add_disks(d, devs);
	add_io(d, devs);
	add_hostdevs(d, devs);
	return dom;
}

static int doc_text(xmlDocPtr doc, char **xml)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlSaveCtxtPtr save = buf ? xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL) : NULL;
	int r = save && xmlSaveDoc(save, doc) >= 0 ? 0 : dp_oom();
	if (save)
		xmlSaveClose(save);
	if (r == 0 && !(*xml = strdup((const char *)xmlBufferContent(buf))))
		r = dp_oom();
	xmlBufferFree(buf);
	return r;
}

int dp_domain_xml(const struct vm_export *vm, char **xml, struct dp_strv *warnings)
{
	struct dom d = {.doc = xmlNewDoc(BAD_CAST "1.0"), .vm = vm, .kvm = dp_fs_exists("dev/kvm"),
	                .warnings = warnings};
	if (!d.doc)
		return dp_oom();
	domain_tree(&d);
	int r = d.err ?: doc_text(d.doc, xml);
	xmlFreeDoc(d.doc);
	return r;
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
