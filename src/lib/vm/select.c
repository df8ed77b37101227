/* Choosing the devices of a VM: "--gpu auto", "--nvme nvidia", an address. A device can
 * be given to a VM when the host does not need it (not host-critical, not the boot VGA
 * device), nobody holds it (the holders binding refuses a bind for), it is behind an
 * IOMMU, and the rest of its IOMMU group can go with it: vfio takes groups whole, so every
 * other endpoint of the group must pass the same tests (bridges stay on the host, as
 * binding leaves them). Among the devices that can, one already on vfio-pci is taken
 * first (nothing to unbind from a host driver), then the lowest address, so the same host
 * gives the same answer whatever order the inventory lists it in. The list is expected
 * as dp_critical_mark left it. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc-util.h"
#include "binding/binding.h"
#include "fs/sysroot.h"
#include "inventory/inventory.h"
#include "util/error.h"
#include "vm/vm.h"

#define REASON_MAX 640

/* ---- what is asked for ----------------------------------------------------------------- */

struct vendor_name {
	const char *name;
	unsigned ids[2];    /* 0: unused */
};

/* AMD's GPUs carry ATI's id (1002); 1022 is AMD's own, on its APUs' other functions */
static const struct vendor_name vendor_names[] = {
	{"nvidia", {0x10de, 0}}, {"amd", {0x1002, 0x1022}}, {"ati", {0x1002, 0x1022}},
	{"intel", {0x8086, 0}},
};

struct request {
	enum dp_vm_want want;
	const char *spec;
	unsigned vendors[2];         /* all 0: any vendor */
	bool any;
};

static const char *want_label(enum dp_vm_want want)
{
	return want == DP_VM_WANT_GPU ? "gpu" : "nvme";
}

static const char *want_noun(enum dp_vm_want want)
{
	return want == DP_VM_WANT_GPU ? "GPU" : "NVMe drive";
}

/* Display controllers (0300 VGA, 0302 3D, 0380 other); NVMe is 0108 with prog-if 02. */
static bool is_kind(const struct dp_pci_device *dev, enum dp_vm_want want)
{
	if (want == DP_VM_WANT_GPU)
		return dp_pci_device_base_class(dev) == 0x03;
	return dev->class_code == 0x010802;
}

static bool parse_hex_vendor(const char *s, unsigned *id)
{
	if (strncasecmp(s, "0x", 2) == 0)
		s += 2;
	if (strlen(s) != 4)
		return false;
	for (const char *p = s; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return false;
	*id = (unsigned)strtoul(s, NULL, 16);
	return true;
}

/* 1: a vendor or "auto" (req filled), 0: an address, -EINVAL: neither. */
static int request_parse(enum dp_vm_want want, const char *spec, struct request *req)
{
	*req = (struct request){.want = want, .spec = spec};
	if (strcasecmp(spec, "auto") == 0) {
		req->any = true;
		return 1;
	}
	for (size_t i = 0; i < sizeof(vendor_names) / sizeof(vendor_names[0]); i++)
		if (strcasecmp(spec, vendor_names[i].name) == 0) {
			memcpy(req->vendors, vendor_names[i].ids, sizeof(req->vendors));
			return 1;
		}
	if (parse_hex_vendor(spec, &req->vendors[0]))
		return 1;
	if (strchr(spec, ':') || strchr(spec, '.'))
		return 0;
	return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, want_label(want), "'%s' is neither "
	                           "auto, a vendor (nvidia, amd, intel or 4 hex digits) nor a PCI "
	                           "address", spec);
}

static bool request_matches(const struct request *req, const struct dp_pci_device *dev)
{
	if (!is_kind(dev, req->want))
		return false;
	return req->any || dev->vendor == req->vendors[0] || (req->vendors[1] && dev->vendor == req->vendors[1]);
}

/* ---- what a device is ------------------------------------------------------------------ */

/* By a linear walk, not dp_pci_list_find's binary search: the answer must not depend on
 * the list being sorted (a list built by a caller need not be). */
static struct dp_pci_device *device_find(const struct dp_pci_list *list, const char *address)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->dev[i].address, address) == 0)
			return &list->dev[i];
	return NULL;
}

/* An address as typed ("01:00.0" too): -EINVAL not an address, -ENODEV not on the host. */
static int device_lookup(const struct dp_pci_list *list, const char *text,
                         struct dp_pci_device **out)
{
	struct dp_pci_addr a;
	char full[DP_ADDR_LEN];
	int r = dp_pci_addr_parse(text, &a);
	if (r < 0)
		return r;
	dp_pci_addr_format(&a, full);
	if (!(*out = device_find(list, full)))
		return dp_error_set_remedy(-ENODEV, DP_REMEDY_LIST_DEVICES, full, "no PCI device %s on "
		                           "this host", full);
	return 0;
}

/* "NVIDIA Corporation GA104 [GeForce RTX 3070]", or the ids of a list scanned without names */
static void device_label(const struct dp_pci_device *dev, char *out, size_t size)
{
	if (dev->vendor_name && dev->device_name)
		snprintf(out, size, "%s %s", dev->vendor_name, dev->device_name);
	else
		snprintf(out, size, "%04x:%04x", dev->vendor, dev->device);
}

/* What a GPU's companion function is: "audio", "USB", ... */
static void function_kind(const struct dp_pci_device *dev, char *out, size_t size)
{
	unsigned cls = dev->class_code >> 8;
	if (cls == 0x0403)
		snprintf(out, size, "audio");
	else if (cls == 0x0c03)
		snprintf(out, size, "USB");
	else if (cls == 0x0c80)
		snprintf(out, size, "serial bus");
	else if (dev->class_name)
		snprintf(out, size, "%s", dev->class_name);
	else
		snprintf(out, size, "class %04x", cls);
}

/* The firmware's boot display: its console (efifb/simplefb) holds the BARs. */
static bool is_boot_vga(const struct dp_pci_device *dev)
{
	char path[PATH_MAX], buf[16];
	if (dp_pci_device_base_class(dev) != 0x03 || !dev->sysfs_path)
		return false;
	snprintf(path, sizeof(path), "%s/boot_vga", dev->sysfs_path);
	return dp_fs_read_line(path, buf, sizeof(buf)) > 0 && strcmp(buf, "1") == 0;
}

/* A bridge stays on the host with a driver that claims no DMA (or none): vfio then
 * still accepts the group. */
static bool bridge_leaves_group_usable(const struct dp_pci_device *dev)
{
	return dp_driver_is_passthrough_safe(dev->driver) || strcmp(dev->driver, "pcieport") == 0 ||
	       strcmp(dev->driver, "shpchp") == 0;
}

/* 1 with why filled when the device itself cannot go to a VM, 0 when it can, -ENOMEM. */
static int device_refusal(const struct dp_pci_device *dev, char *why, size_t size)
{
	if (is_boot_vga(dev)) {
		snprintf(why, size, "boot VGA (the host console uses it)");
		return 1;
	}
	if (dev->critical.n) {
		snprintf(why, size, "host-critical: it %s", dev->critical.v[0]);
		return 1;
	}
	_cleanup_(dp_strv_freep) struct dp_strv users = {0};
	int n = dp_device_users(dev, &users);
	if (n < 0)
		return n;   /* unknown is not "nobody" */
	if (n == 0)
		return 0;
	if (n == 1)
		snprintf(why, size, "in use: %s", users.v[0]);
	else
		snprintf(why, size, "in use: %s, and %d more", users.v[0], n - 1);
	return 1;
}

/* ---- whether it can be given away ------------------------------------------------------ */

/* The same tests for another member of dev's group. */
static int member_refusal(const struct dp_pci_device *dev, const struct dp_pci_device *m,
                          const struct dp_strv *exclude, char *why, size_t size)
{
	char inner[REASON_MAX];
	if (dp_pci_device_is_bridge(m)) {
		if (bridge_leaves_group_usable(m))
			return 0;
		snprintf(why, size, "group %d holds bridge %s, bound to %s, which vfio does not accept "
		         "in a group it takes", dev->iommu_group, m->address, m->driver);
		return 1;
	}
	if (exclude && dp_strv_contains(exclude, m->address)) {
		snprintf(why, size, "group %d holds %s, already chosen for this VM", dev->iommu_group,
		         m->address);
		return 1;
	}
	int r = device_refusal(m, inner, sizeof(inner));
	if (r == 1)
		snprintf(why, size, "group %d also holds %s: %s", dev->iommu_group, m->address, inner);
	return r;
}

/* 1 with why filled when dev cannot be given to this VM, 0 when it can, <0 an error. */
static int qualify(const struct dp_pci_list *list, const struct dp_pci_device *dev,
                   const struct dp_strv *exclude, char *why, size_t size)
{
	if (exclude && dp_strv_contains(exclude, dev->address)) {
		snprintf(why, size, "already chosen for this VM");
		return 1;
	}
	if (dev->iommu_group == DP_NO_GROUP) {
		snprintf(why, size, "no IOMMU group");
		return 1;
	}
	int r = device_refusal(dev, why, size);
	for (size_t i = 0; r == 0 && i < list->n; i++) {
		const struct dp_pci_device *m = &list->dev[i];
		if (m != dev && m->iommu_group == dev->iommu_group)
			r = member_refusal(dev, m, exclude, why, size);
	}
	return r;
}

/* Pool members belong to their pool's claims: "auto" leaves every member alone (a VM takes
 * them through its pools), a named device is refused only while someone has it claimed. */
static int pool_refusal(const struct dp_pool_members *pools, const struct dp_pci_device *dev,
                        bool any_member, char *why, size_t size)
{
	for (size_t i = 0; pools && i < pools->n; i++) {
		const struct dp_pool_member *m = &pools->m[i];
		if (strcmp(m->address, dev->address) != 0)
			continue;
		if (m->state == DP_MEMBER_CLAIMED && !m->stale) {
			snprintf(why, size, "claimed by '%s' from pool '%s'", m->owner, m->pool);
			return 1;
		}
		if (any_member) {
			snprintf(why, size, "a member of pool '%s' (its claims hand it out)", m->pool);
			return 1;
		}
	}
	return 0;
}

static void pool_members_freep(struct dp_pool_members *m)
{
	dp_pool_members_free(m);
}

static bool on_vfio(const struct dp_pci_device *dev)
{
	return strcmp(dev->driver, "vfio-pci") == 0;
}

static int address_order(const void *a, const void *b)
{
	const struct dp_pci_device *x = *(const struct dp_pci_device *const *)a;
	const struct dp_pci_device *y = *(const struct dp_pci_device *const *)b;
	return strcmp(x->address, y->address);
}

/* Is a better than b? On vfio-pci first, then the lower address. */
static bool preferred(const struct dp_pci_device *a, const struct dp_pci_device *b)
{
	if (on_vfio(a) != on_vfio(b))
		return on_vfio(a);
	return strcmp(a->address, b->address) < 0;
}

/* ---- the report lines ------------------------------------------------------------------ */

static int rejected_add(struct dp_strv *rejected, const struct dp_pci_device *dev, const char *why)
{
	char label[256], line[1024];
	device_label(dev, label, sizeof(label));
	snprintf(line, sizeof(line), "%s (%s): %s", dev->address, label, why);
	/* two "auto" requests of one VM meet the same refusals: say each once */
	if (rejected && !dp_strv_contains(rejected, line) && dp_strv_add(rejected, line) < 0)
		return dp_oom();
	return 0;
}

/* ", with 0000:01:00.1 audio, 0000:01:00.2 USB" for the rest of dev's group */
static int companions_text(const struct dp_pci_list *list, const struct dp_pci_device *dev,
                           char *out, size_t size)
{
	_cleanup_(dp_strv_freep) struct dp_strv ends = {0};
	int r = dp_vm_group_endpoints(list, dev->address, &ends);
	if (r < 0)
		return r;
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < ends.n; i++) {
		const struct dp_pci_device *m = device_find(list, ends.v[i]);
		char kind[128];
		if (!m || m == dev)
			continue;
		function_kind(m, kind, sizeof(kind));
		int n = snprintf(out + len, size - len, "%s%s %s", len ? ", " : ", with ", m->address, kind);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
	return 0;
}

static int chosen_add(const struct dp_pci_list *list, const struct request *req,
                      const struct dp_pci_device *dev, struct dp_strv *chosen)
{
	char label[256], with[512];
	int r = companions_text(list, dev, with, sizeof(with));
	if (r < 0)
		return r;
	device_label(dev, label, sizeof(label));
	if (chosen && dp_strv_addf(chosen, "%s %s: %s %s (group %d%s%s)", want_label(req->want),
	                           req->spec, dev->address, label, dev->iommu_group, with,
	                           on_vfio(dev) ? "; already on vfio-pci" : "") < 0)
		return dp_oom();
	return 0;
}

/* ---- dp_vm_pick ------------------------------------------------------------------------ */

static int pick_address(const struct dp_pci_list *list, const struct request *req,
                        const struct dp_strv *exclude, char out[DP_ADDR_LEN],
                        struct dp_strv *chosen, struct dp_strv *rejected)
{
	struct dp_pci_device *dev;
	char why[REASON_MAX], label[256];
	int r = device_lookup(list, req->spec, &dev);
	if (r < 0)
		return r;
	device_label(dev, label, sizeof(label));
	if (!is_kind(dev, req->want)) {
		char kind[128];
		function_kind(dev, kind, sizeof(kind));
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_LIST_DEVICES, dev->address, "%s is not "
		                           "a %s: it is a %s (%s)", dev->address, want_noun(req->want),
		                           kind, label);
	}
	_cleanup_(pool_members_freep) struct dp_pool_members pools = {0};
	if ((r = dp_pool_members_read(list, NULL, &pools)) < 0 ||
	    (r = qualify(list, dev, exclude, why, sizeof(why))) < 0)
		return r;
	if (r == 0)
		r = pool_refusal(&pools, dev, false, why, sizeof(why));
	if (r == 1) {
		if ((r = rejected_add(rejected, dev, why)) < 0)
			return r;
		return dp_error_set_remedy(-EPERM, DP_REMEDY_SHOW_DEVICE, dev->address, "%s (%s) "
		                           "cannot be given to a VM: %s", dev->address, label, why);
	}
	snprintf(out, DP_ADDR_LEN, "%s", dev->address);
	return chosen_add(list, req, dev, chosen);
}

/* The devices of the kind asked for, sorted by address: -ENOMEM. */
static int candidates_collect(const struct dp_pci_list *list, const struct request *req,
                              const struct dp_pci_device ***out, size_t *n)
{
	_cleanup_free_ const struct dp_pci_device **c = calloc(list->n + 1, sizeof(*c));
	if (!c)
		return dp_oom();
	*n = 0;
	for (size_t i = 0; i < list->n; i++)
		if (request_matches(req, &list->dev[i]))
			c[(*n)++] = &list->dev[i];
	qsort(c, *n, sizeof(*c), address_order);
	*out = TAKE_PTR(c);
	return 0;
}

static int none_free(const struct request *req, size_t candidates)
{
	char what[64];
	if (req->any)
		snprintf(what, sizeof(what), "%s", want_noun(req->want));
	else
		snprintf(what, sizeof(what), "%s %s", req->spec, want_noun(req->want));
	if (candidates == 0)
		return dp_error_set_remedy(-ENODEV, DP_REMEDY_LIST_DEVICES, NULL, "no %s on this host",
		                           what);
	return dp_error_set_remedy(-ENODEV, DP_REMEDY_LIST_DEVICES, NULL, "no %s can be given to a "
	                           "VM: %zu candidate%s, none free", what, candidates,
	                           candidates == 1 ? "" : "s");
}

static int pick_best(const struct dp_pci_list *list, const struct request *req,
                     const struct dp_strv *exclude, char out[DP_ADDR_LEN],
                     struct dp_strv *chosen, struct dp_strv *rejected)
{
	_cleanup_free_ const struct dp_pci_device **cand = NULL;
	size_t n = 0;
	_cleanup_(pool_members_freep) struct dp_pool_members pools = {0};
	int r = candidates_collect(list, req, &cand, &n);
	if (r < 0 || (r = dp_pool_members_read(list, NULL, &pools)) < 0)
		return r;
	const struct dp_pci_device *best = NULL;
	char why[REASON_MAX];
	for (size_t i = 0; i < n; i++) {
		int refused = qualify(list, cand[i], exclude, why, sizeof(why));
		if (refused == 0)
			refused = pool_refusal(&pools, cand[i], true, why, sizeof(why));
		if (refused < 0)
			return refused;
		if (refused && (r = rejected_add(rejected, cand[i], why)) < 0)
			return r;
		if (!refused && (!best || preferred(cand[i], best)))
			best = cand[i];
	}
	if (!best)
		return none_free(req, n);
	snprintf(out, DP_ADDR_LEN, "%s", best->address);
	return chosen_add(list, req, best, chosen);
}

int dp_vm_pick(const struct dp_pci_list *list, enum dp_vm_want want, const char *spec,
               const struct dp_strv *exclude, char out[DP_ADDR_LEN], struct dp_strv *chosen,
               struct dp_strv *rejected)
{
	struct request req;
	out[0] = '\0';
	if (want != DP_VM_WANT_GPU && want != DP_VM_WANT_NVME)
		return dp_error_set(-EINVAL, "only a GPU or an NVMe drive is chosen by kind");
	int r = request_parse(want, spec, &req);
	if (r < 0)
		return r;
	dp_device_users_forget();   /* who holds what: as of now, not of an earlier question */
	if (r == 0)
		return pick_address(list, &req, exclude, out, chosen, rejected);
	return pick_best(list, &req, exclude, out, chosen, rejected);
}

/* ---- dp_vm_group_endpoints ------------------------------------------------------------- */

static int strv_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dp_vm_group_endpoints(const struct dp_pci_list *list, const char *address,
                          struct dp_strv *out)
{
	struct dp_pci_device *dev;
	int r = device_lookup(list, address, &dev);
	if (r < 0)
		return r;
	size_t first = out->n;
	if (dp_strv_add(out, dev->address) < 0)
		return dp_oom();
	for (size_t i = 0; dev->iommu_group != DP_NO_GROUP && i < list->n; i++) {
		const struct dp_pci_device *m = &list->dev[i];
		if (m != dev && m->iommu_group == dev->iommu_group && !dp_pci_device_is_bridge(m) &&
		    dp_strv_add(out, m->address) < 0)
			return dp_oom();
	}
	qsort(out->v + first, out->n - first, sizeof(*out->v), strv_order);
	return 0;
}
