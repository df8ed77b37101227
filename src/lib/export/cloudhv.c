/* A devpass VM as a Cloud Hypervisor command line, and its devices as the bodies of
 * PUT /api/v1/vm.add-device. Cloud Hypervisor takes a VFIO device by its sysfs path and
 * never binds: devpass binds (the whole IOMMU group, every function passed). What it
 * cannot do is refused, naming the device: USB passthrough, a legacy VGA (x-vga, the
 * host's boot VGA), Secure Boot. It runs only on KVM (or MSHV) and pins all guest RAM. */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "devpass.h"
#include "export/vmexport.h"
#include "fs/sysroot.h"
#include "util/error.h"

/* Cloud Hypervisor's UEFI firmware is edk2's CloudHv platform build (CLOUDHV.fd), not
 * QEMU's OVMF: it is not packaged in Debian 12. */
#define CH_FIRMWARE_DEFAULT "/usr/share/cloud-hypervisor/CLOUDHV.fd"

struct ch {
	const struct vm_export *vm;
	struct dp_strv lines;        /* "--option value", the value quoted for a shell */
	json_object *bodies;
	struct dp_strv *warnings;
};

static int warn(struct ch *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int warn(struct ch *c, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	return n < 0 || (c->warnings && dp_strv_add(c->warnings, text) < 0) ? dp_oom() : 0;
}

/* A value as a POSIX shell reads it back: bare when safe, else single-quoted. */
static int quoted(const char *s, char **out)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                           "_-+=/.,:@%[]";
	size_t n = strlen(s), quotes = 0;
	if (n && strspn(s, safe) == n)
		return (*out = strdup(s)) ? 0 : dp_oom();
	for (const char *p = s; *p; p++)
		quotes += *p == '\'';
	char *q = malloc(n + 3 * quotes + 3), *w = q;
	if (!q)
		return dp_oom();
	*w++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(w, "'\\''", 4);
			w += 4;
		} else {
			*w++ = *p;
		}
	}
	memcpy(w, "'", 2);
	*out = q;
	return 0;
}

static int arg(struct ch *c, const char *option, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int arg(struct ch *c, const char *option, const char *fmt, ...)
{
	_cleanup_free_ char *value = NULL, *q = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&value, fmt, ap);
	va_end(ap);
	if (n < 0)
		return dp_oom();
	int r = quoted(value, &q);
	return r ?: dp_strv_addf(&c->lines, "%s %s", option, q) < 0 ? dp_oom() : 0;
}

/* ---- what Cloud Hypervisor cannot do --------------------------------------------------- */
static int refuse_wants(const struct vm_export *e)
{
	const struct dp_vm_def *def = &e->def;
	if (def->firmware == DP_VM_FW_SECURE_BOOT)
		return dp_error_set(-EOPNOTSUPP, "VM %s boots with Secure Boot: Cloud Hypervisor's "
		                    "firmware (CLOUDHV.fd) has no Secure Boot and no SMM", def->name);
	for (size_t i = 0; i < def->ndevices; i++) {
		const struct dp_vm_device *w = &def->devices[i];
		if (w->want == DP_VM_WANT_USB)
			return dp_error_set(-EOPNOTSUPP, "VM %s passes USB device %s: Cloud Hypervisor has "
			                    "no USB controller to pass it on", def->name, w->spec);
		if (strstr(w->options, "x-vga=on"))
			return dp_error_set(-EOPNOTSUPP, "VM %s passes %s with x-vga: Cloud Hypervisor has "
			                    "no legacy VGA", def->name,
			                    w->address[0] ? w->address : w->spec);
	}
	return 0;
}

static bool is_boot_vga(const char *address)
{
	char path[96], value[8];
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/boot_vga", address);
	return dp_fs_read_line(path, value, sizeof(value)) >= 0 && strcmp(value, "1") == 0;
}

static int refuse_devices(const struct vm_export *e)
{
	for (size_t i = 0; i < e->set.n; i++) {
		const struct dp_hostdev *h = &e->set.h[i];
		if (h->kind == DP_HOSTDEV_USB)
			return dp_error_set(-EOPNOTSUPP, "VM %s passes USB device %04x:%04x: Cloud "
			                    "Hypervisor has no USB controller to pass it on", e->def.name,
			                    h->usb_vendor, h->usb_product);
		if ((h->kind == DP_HOSTDEV_PCI || h->kind == DP_HOSTDEV_NET) && is_boot_vga(h->address))
			return dp_error_set(-EOPNOTSUPP, "VM %s passes %s, the host's boot VGA: Cloud "
			                    "Hypervisor has no legacy VGA to give it", e->def.name, h->address);
	}
	return 0;
}

/* ---- the command line ------------------------------------------------------------------ */
static int args_machine(struct ch *c)
{
	const struct dp_vm_def *def = &c->vm->def;
	int node = c->vm->plan.host_node;
	const char *huge = def->hugepages ? ",hugepages=on" : "";
	int r = arg(c, "--cpus", "boot=%u", def->cpus);
	if (r || node < 0)
		return r ?: arg(c, "--memory", "size=%lluM%s", def->memory_mib, huge);
	/* all of the RAM in one zone bound to the devices' node, as `vm start` binds it */
	return arg(c, "--memory", "size=0") ?:
	       arg(c, "--memory-zone", "id=mem0,size=%lluM,host_numa_node=%d%s", def->memory_mib,
	           node, huge) ?:
	       warn(c, "vCPUs are not pinned to NUMA node %d's CPUs (memory is bound to it)", node);
}

static const char *firmware_path(void)
{
	const char *env = getenv("DEVPASS_CH_FIRMWARE");
	return env && env[0] ? env : CH_FIRMWARE_DEFAULT;
}

static int args_boot(struct ch *c)
{
	const struct dp_vm_def *def = &c->vm->def;
	char path[4096];
	int r;
	if (def->kernel) {
		r = dp_fs_host_path(def->kernel, path, sizeof(path)) ?: arg(c, "--kernel", "%s", path);
		if (!r && def->initrd)
			r = dp_fs_host_path(def->initrd, path, sizeof(path)) ?: arg(c, "--initramfs", "%s", path);
		return r ?: def->append ? arg(c, "--cmdline", "%s", def->append) : 0;
	}
	const char *fw = firmware_path();
	r = arg(c, "--firmware", "%s", fw);
	if (!r && def->firmware == DP_VM_FW_BIOS)
		r = warn(c, "Cloud Hypervisor has no legacy BIOS: VM %s boots through the UEFI firmware "
		         "%s, and an image that boots only from a BIOS will not start", def->name, fw);
	if (!r && !dp_fs_exists(fw))
		r = warn(c, "%s is missing: Cloud Hypervisor needs edk2's CloudHv firmware (not "
		         "packaged in Debian 12)", fw);
	return r;
}

static int args_media(struct ch *c)
{
	const struct dp_vm_def *def = &c->vm->def;
	char path[4096];
	int r = 0;
	if (def->image)
		r = vm_export_path(c->vm, false, "disk.qcow2", path, sizeof(path)) ?:
		    arg(c, "--disk", "path=%s", path);
	if (!r && def->user_data)
		r = vm_export_path(c->vm, false, "seed.iso", path, sizeof(path)) ?:
		    arg(c, "--disk", "path=%s,readonly=on", path);
	return r;
}

/* The console goes where `vm log` reads it; the API socket beside QEMU's monitor. */
static int args_io(struct ch *c)
{
	char log[4096], sock[4096];
	int r = vm_export_path(c->vm, false, "serial.log", log, sizeof(log)) ?:
	        vm_export_path(c->vm, true, "ch.sock", sock, sizeof(sock)) ?:
	        arg(c, "--serial", "file=%s", log) ?: arg(c, "--console", "off") ?:
	        arg(c, "--api-socket", "path=%s", sock) ?:
	        warn(c, "no network device: Cloud Hypervisor has no user-mode networking; give it "
	             "a tap device of its own");
	if (!r && c->vm->def.graphics == DP_VM_GRAPHICS_VNC)
		r = warn(c, "VM %s has VNC graphics: Cloud Hypervisor has no display; the serial "
		         "console is the way in", c->vm->def.name);
	return r;
}

/* The sysfs path Cloud Hypervisor opens (the host's own, not under a test root). */
static void device_path(const struct dp_hostdev *h, char *out, size_t size)
{
	if (h->kind == DP_HOSTDEV_MDEV)
		snprintf(out, size, "/sys/bus/mdev/devices/%s/", h->uuid);
	else
		snprintf(out, size, "/sys/bus/pci/devices/%s/", h->address);
}

/* A PCI segment of Cloud Hypervisor is one flat bus of 32 device slots, slot 0 its host
 * bridge; segment 0 also carries the virtio disks and the default entropy device. The
 * devices that do not fit go to further segments (pci_segment), which must be declared. */
#define CH_SEGMENT_SLOTS 31

static int segment_of(const struct vm_export *e, size_t i)
{
	int own = (e->def.image ? 1 : 0) + (e->def.user_data ? 1 : 0) + 1 /* virtio-rng */;
	size_t first = (size_t)(CH_SEGMENT_SLOTS - own);
	return i < first ? 0 : 1 + (int)((i - first) / CH_SEGMENT_SLOTS);
}

static int body_add(struct ch *c, const char *path, const char *id, int segment)
{
	json_object *b = json_object_new_object();
	if (!b || json_object_object_add(b, "path", json_object_new_string(path)) ||
	    json_object_object_add(b, "id", json_object_new_string(id)) ||
	    (segment > 0 && json_object_object_add(b, "pci_segment", json_object_new_int(segment))) ||
	    json_object_array_add(c->bodies, b)) {
		json_object_put(b);
		return dp_oom();
	}
	return 0;
}

static int device_add(struct ch *c, const struct dp_hostdev *h, int segment)
{
	char path[128], seg[32] = "";
	device_path(h, path, sizeof(path));
	if (segment > 0)
		snprintf(seg, sizeof(seg), ",pci_segment=%d", segment);
	return arg(c, "--device", "path=%s,id=%s%s", path, vm_export_device_id(h), seg) ?:
	       body_add(c, path, vm_export_device_id(h), segment);
}

static int warn_options(struct ch *c)
{
	const struct vm_export *e = c->vm;
	for (size_t i = 0; i < e->def.ndevices; i++) {
		const struct dp_vm_device *d = &e->def.devices[i];
		if (d->options[0] && warn(c, "%s: the options %s are QEMU's; Cloud Hypervisor exposes "
		                          "the device's own ROM BAR and takes no ROM file",
		                          d->address[0] ? d->address : d->spec, d->options) < 0)
			return dp_oom();
	}
	return 0;
}

static int args_devices(struct ch *c)
{
	const struct vm_export *e = c->vm;
	if (e->set.n == 0)
		return 0;
	int last = segment_of(e, e->set.n - 1);
	int r = last > 0 ? arg(c, "--platform", "num_pci_segments=%d", last + 1) : 0;
	for (size_t i = 0; r == 0 && i < e->set.n; i++)
		r = device_add(c, &e->set.h[i], segment_of(e, i));
	return r ?: warn_options(c) ?:
	       warn(c, "Cloud Hypervisor pins all %llu MiB of guest RAM for VFIO: its "
	            "RLIMIT_MEMLOCK must cover them (CAP_IPC_LOCK, or a limit of at least %llu MiB)",
	            e->def.memory_mib, e->def.memory_mib + 1024);
}

static int render(struct ch *c, char **cmdline)
{
	if (!dp_fs_exists("dev/kvm")) {
		int w = warn(c, "no /dev/kvm on this host: Cloud Hypervisor runs only on KVM (no "
		             "emulation)");
		if (w < 0)
			return w;
	}
	int r = dp_strv_add(&c->lines, "cloud-hypervisor") < 0 ? dp_oom() : 0;
	r = r ?: args_machine(c) ?: args_boot(c) ?: args_media(c) ?: args_io(c) ?: args_devices(c);
	if (r == 0 && !(*cmdline = dp_strv_join(&c->lines, "\n")))
		r = dp_oom();
	return r;
}

/* The hostdev set speaks of libvirt where a device is not on vfio-pci yet; the same
 * holds for Cloud Hypervisor, which never binds either. */
static int warning_for_ch(struct dp_strv *warnings, const char *w)
{
	const char *libvirt = strstr(w, ": libvirt starts the domain");
	int r = libvirt ? dp_strv_addf(warnings, "%.*s: Cloud Hypervisor takes it only once it is "
	                               "bound to vfio-pci (it never binds)", (int)(libvirt - w), w)
	                : dp_strv_add(warnings, w);
	return r < 0 ? dp_oom() : 0;
}

int dp_vm_export_cloudhv(const char *name, const struct dp_pci_list *list, char **cmdline,
                         struct json_object **bodies, struct dp_strv *warnings)
{
	*cmdline = NULL;
	*bodies = NULL;
	_cleanup_(vm_export_freep) struct vm_export e = {0};
	int r = vm_export_load(list, name, &e) ?: refuse_wants(&e) ?: refuse_devices(&e);
	for (size_t i = 0; r == 0 && warnings && i < e.set.warnings.n; i++)
		r = warning_for_ch(warnings, e.set.warnings.v[i]);
	if (r < 0)
		return r;
	struct ch c = {.vm = &e, .bodies = json_object_new_array(), .warnings = warnings};
	r = c.bodies ? render(&c, cmdline) : dp_oom();
	dp_strv_free(&c.lines);
	if (r < 0) {
		json_object_put(c.bodies);
		return r;
	}
	*bodies = c.bodies;
	return 0;
}
