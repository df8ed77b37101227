/* Hostdev sets: what a list of host devices, or an owner's claims, becomes in libvirt.
 * A PCI function brings every endpoint of its IOMMU group (QEMU refuses a group that is
 * not whole); a VF that has a MAC or VLAN to set becomes an <interface type='hostdev'>. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "export/export.h"
#include "pools/vfclaim.h"
#include "sriov/sriov.h"
#include "util/error.h"

DEFINE_CLEANUP_STRUCT(dp_usb_list, dp_usb_list_free)
DEFINE_CLEANUP_STRUCT(dp_claim_list, dp_claim_list_free)
DEFINE_CLEANUP_STRUCT(dp_hostdev_set, dp_hostdev_set_free)

void dp_hostdev_set_free(struct dp_hostdev_set *s)
{
	if (!s)
		return;
	free(s->h);
	dp_strv_free(&s->warnings);
	*s = (struct dp_hostdev_set){0};
}

struct dp_hostdev *dp_hostdev_set_append(struct dp_hostdev_set *s)
{
	if (dp_array_grow(&s->h, s->n, 1, sizeof(*s->h)) < 0)
		return NULL;
	struct dp_hostdev *h = &s->h[s->n++];
	*h = (struct dp_hostdev){.vlan = -1, .group = DP_NO_GROUP};
	return h;
}

/* "ua-devpass-" + kind + the identity with every character outside [A-Za-z0-9_] as '-':
 * "ua-devpass-pci-0000-41-00-0", a name libvirt keeps and detach can use */
static void alias_make(char out[64], const char *kind, const char *identity)
{
	int n = snprintf(out, 64, "ua-devpass-%s-%s", kind, identity);
	for (char *c = out + strlen("ua-devpass-"); n > 0 && *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '_'))
			*c = '-';
}

static bool set_has_pci(const struct dp_hostdev_set *s, const char *address)
{
	for (size_t i = 0; i < s->n; i++)
		if ((s->h[i].kind == DP_HOSTDEV_PCI || s->h[i].kind == DP_HOSTDEV_NET) &&
		    strcmp(s->h[i].address, address) == 0)
			return true;
	return false;
}

/* The MAC/VLAN a claim set on the VF, else the ones stored for it (sriov settings). */
static void vf_settings(const char *address, char mac[18], int *vlan)
{
	char pf[64];
	int vf;
	struct dp_vf_settings s;
	if (vf_claim_settings_read(address, mac, vlan) == 0 && (mac[0] || *vlan >= 0))
		return;
	mac[0] = '\0';
	*vlan = -1;
	if (dp_sriov_vf_locate(address, pf, sizeof(pf), &vf) < 0 || dp_vf_store_get(pf, vf, &s) < 0)
		return;
	if (s.set & DP_VF_SET_MAC)
		dp_vf_mac_format(s.mac, mac);
	if ((s.set & DP_VF_SET_VLAN) && s.vlan > 0)
		*vlan = s.vlan;
}

static int pci_entry_add(struct dp_hostdev_set *s, const struct dp_pci_device *dev, const char *pool)
{
	struct dp_hostdev *h = dp_hostdev_set_append(s);
	if (!h)
		return dp_oom();
	snprintf(h->address, sizeof(h->address), "%s", dev->address);
	snprintf(h->pool, sizeof(h->pool), "%s", pool ? pool : "");
	h->group = dev->iommu_group;
	vf_settings(dev->address, h->mac, &h->vlan);
	h->kind = h->mac[0] || h->vlan > 0 ? DP_HOSTDEV_NET : DP_HOSTDEV_PCI;
	alias_make(h->alias, h->kind == DP_HOSTDEV_NET ? "net" : "pci", dev->address);
	int r = 0;
	if (dev->critical.n)
		r = dp_strv_addf(&s->warnings, "WARNING: %s is host-critical (%s): the host needs it",
		                 dev->address, dev->critical.v[0]);
	else if (strcmp(dev->driver, "vfio-pci") != 0)
		r = dp_strv_addf(&s->warnings, "%s is on %s, not vfio-pci: libvirt starts the domain only "
		                 "once it is bound to vfio-pci", dev->address,
		                 dev->driver[0] ? dev->driver : "no driver");
	return r < 0 ? dp_oom() : 0;
}

int dp_hostdev_set_add_pci(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                           const struct dp_pci_device *dev, const char *pool)
{
	if (dp_pci_device_is_bridge(dev))
		return dp_error_set(-EOPNOTSUPP, "%s is a PCI bridge: bridges stay with the host (the "
		                    "endpoints behind it can be passed)", dev->address);
	if (dev->iommu_group == DP_NO_GROUP) {
		if (dp_strv_addf(&s->warnings, "%s has no IOMMU group: VFIO cannot pass it until the "
		                 "IOMMU is on", dev->address) < 0)
			return dp_oom();
		return set_has_pci(s, dev->address) ? 0 : pci_entry_add(s, dev, pool);
	}
	/* the whole group, in address order, the named function among them */
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *m = &list->dev[i];
		if (m->iommu_group != dev->iommu_group || dp_pci_device_is_bridge(m) ||
		    set_has_pci(s, m->address))
			continue;
		int r = pci_entry_add(s, m, pool);
		if (r < 0)
			return r;
	}
	return 0;
}

/* How many devices of the host share d's vid:pid (>1: libvirt needs the bus/device too),
 * and d's rank among them (1-based, in location order: the alias suffix). */
static size_t usb_same_id(const struct dp_usb_list *ul, const struct dp_usb_device *d, size_t *rank)
{
	size_t n = 0;
	for (size_t i = 0; i < ul->n; i++) {
		n += ul->d[i].vendor_id == d->vendor_id && ul->d[i].product_id == d->product_id;
		if (&ul->d[i] == d)
			*rank = n;
	}
	return n;
}

static bool set_has_usb(const struct dp_hostdev_set *s, const struct dp_usb_device *d, bool exact)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct dp_hostdev *h = &s->h[i];
		if (h->kind == DP_HOSTDEV_USB && h->usb_vendor == d->vendor_id &&
		    h->usb_product == d->product_id &&
		    (!exact || (h->usb_bus == d->busnum && h->usb_device == d->devnum)))
			return true;
	}
	return false;
}

static int usb_entry_add(struct dp_hostdev_set *s, const struct dp_usb_list *ul,
                         const struct dp_usb_device *d, const char *pool)
{
	size_t rank = 1;
	bool ambiguous = usb_same_id(ul, d, &rank) > 1;
	if (set_has_usb(s, d, ambiguous))
		return 0;
	if (d->hub)
		return dp_error_set(-EOPNOTSUPP, "USB device %s is a hub: QEMU cannot pass a hub (its "
		                    "controller %s can be passed)", d->location, d->controller);
	struct dp_hostdev *h = dp_hostdev_set_append(s);
	if (!h)
		return dp_oom();
	h->kind = DP_HOSTDEV_USB;
	h->usb_vendor = d->vendor_id;
	h->usb_product = d->product_id;
	snprintf(h->pool, sizeof(h->pool), "%s", pool ? pool : "");
	char id[32];
	snprintf(id, sizeof(id), "%04x-%04x", d->vendor_id, d->product_id);
	if (ambiguous) {
		h->usb_bus = d->busnum;
		h->usb_device = d->devnum;
		snprintf(id, sizeof(id), "%04x-%04x-%zu", d->vendor_id, d->product_id, rank);
	}
	alias_make(h->alias, "usb", id);
	if (d->critical && dp_strv_addf(&s->warnings, "WARNING: USB device %s is host-critical (%s)",
	                                d->location, d->critical_reason ? d->critical_reason : "") < 0)
		return dp_oom();
	return 0;
}

static int usb_add_text(struct dp_hostdev_set *s, const char *text, const char *pool)
{
	_cleanup_(dp_usb_list_freep) struct dp_usb_list ul = {0};
	struct dp_usb_device *d = NULL;
	int r = dp_usb_scan(&ul, 0);
	if (r == 0)
		r = dp_usb_lookup(&ul, text, &d);
	if (r == -EEXIST)
		return dp_error_set(-EEXIST, "USB id %s names more than one device: name one by its "
		                    "location (bus-port)", text);
	if (r == -ENOENT)
		return dp_error_set(-ENOENT, "no USB device %s on this host", text);
	return r < 0 ? r : usb_entry_add(s, &ul, d, pool);
}

static int mdev_add(struct dp_hostdev_set *s, const char *uuid, const char *pool)
{
	_cleanup_(dp_mdev_list_freep) struct dp_mdev_list ml = {0};
	int r = dp_mdev_list_read(&ml);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ml.n; i++) {
		if (strcasecmp(ml.m[i].uuid, uuid) != 0)
			continue;
		if (!ml.m[i].active && dp_strv_addf(&s->warnings, "mdev %s is defined but not created: "
		                                    "it must exist before the domain starts", uuid) < 0)
			return dp_oom();
		struct dp_hostdev *h = dp_hostdev_set_append(s);
		if (!h)
			return dp_oom();
		h->kind = DP_HOSTDEV_MDEV;
		snprintf(h->uuid, sizeof(h->uuid), "%s", ml.m[i].uuid);
		snprintf(h->pool, sizeof(h->pool), "%s", pool ? pool : "");
		alias_make(h->alias, "mdev", h->uuid);
		return 0;
	}
	return dp_error_set(-ENOENT, "no mediated device %s on this host", uuid);
}

static int pci_add_text(struct dp_hostdev_set *s, const struct dp_pci_list *list, const char *text,
                        const char *pool)
{
	struct dp_pci_device *dev = NULL;
	int r = dp_pci_device_lookup(list, text, &dev);
	if (r == -ENODEV)   /* its message names the full address; the contract's code */
		r = -ENOENT;
	return r < 0 ? r : dp_hostdev_set_add_pci(s, list, dev, pool);
}

/* Meant as a PCI address: hex digits, colons and a '.' alone (a USB location has a '-',
 * a USB id no '.'). Whether it is a valid one is for the address parser to say. */
static bool looks_pci(const char *text)
{
	return strchr(text, '.') && strspn(text, "0123456789abcdefABCDEF:.") == strlen(text);
}

int dp_hostdev_set_add_device(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                              const char *text, const char *pool)
{
	if (!text || !*text)
		return dp_error_set(-EINVAL, "an empty device name");
	if (dp_mdev_uuid_valid(text))
		return mdev_add(s, text, pool);
	if (looks_pci(text))
		return pci_add_text(s, list, text, pool);
	int r = usb_add_text(s, text, pool);
	if (r == -EINVAL && !strchr(text, '-'))   /* say what kinds a name can be */
		return dp_error_set(-EINVAL, "'%.80s' is neither a PCI address (0000:41:00.0), a USB "
		                    "device (3-1.2, 046d:c52b) nor an mdev UUID", text);
	return r;
}

int dp_hostdev_set_from_devices(const struct dp_pci_list *list, char *const *devices,
                                size_t n, struct dp_hostdev_set *out)
{
	_cleanup_(dp_hostdev_set_freep) struct dp_hostdev_set s = {0};
	if (n == 0)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "devices", "no device given");
	for (size_t i = 0; i < n; i++) {
		int r = dp_hostdev_set_add_device(&s, list, devices[i], NULL);
		if (r < 0)
			return r;
	}
	*out = s;
	s = (struct dp_hostdev_set){0};
	return 0;
}

/* ---- an owner's claims ---------------------------------------------------------------- */

static enum dp_pool_type pool_type_of(const struct dp_pool_list *pools, const char *name)
{
	for (size_t i = 0; i < pools->n; i++)
		if (strcmp(pools->p[i].name, name) == 0)
			return pools->p[i].type;
	return DP_POOL_PCI;
}

/* A usb claim's unit is "vvvv:pppp:SERIAL" or "vvvv:pppp@PORT" (pools/units.h). */
static int usb_claim_add(struct dp_hostdev_set *s, const struct dp_claim *c)
{
	const char *unit = c->functions.n ? c->functions.v[0] : "";
	const char *at = strchr(unit, '@');
	int r = usb_add_text(s, at ? at + 1 : unit, c->pool);
	if (r != -ENOENT)
		return r;
	/* unplugged now: libvirt's startupPolicy cannot be guessed, say so */
	return dp_strv_addf(&s->warnings, "USB device %s of pool %s is not plugged in: left out",
	                    unit, c->pool) < 0 ? dp_oom() : 0;
}

static int claim_add(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                     const struct dp_pool_list *pools, const struct dp_claim *c, bool units_only)
{
	enum dp_pool_type type = pool_type_of(pools, c->pool);
	if (type == DP_POOL_USB)
		return usb_claim_add(s, c);
	if (type == DP_POOL_MDEV)
		return mdev_add(s, c->functions.n ? c->functions.v[0] : "", c->pool);
	if (units_only)
		return 0;
	const struct dp_pci_device *dev = dp_pci_list_find(list, c->address);
	if (!dev)
		return dp_strv_addf(&s->warnings, "%s of pool %s is not on this host now: left out",
		                    c->address, c->pool) < 0 ? dp_oom() : 0;
	return dp_hostdev_set_add_pci(s, list, dev, c->pool);
}

int dp_hostdev_set_add_claims(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                              const char *owner, bool units_only)
{
	_cleanup_(dp_claim_list_freep) struct dp_claim_list cl = {0};
	_cleanup_(dp_pool_list_freep) struct dp_pool_list pools = {0};
	int r = dp_claims_read(list, owner, &cl);
	if (r == 0)
		r = dp_pools_read(&pools);
	for (size_t i = 0; r == 0 && i < cl.n; i++)
		r = claim_add(s, list, &pools, &cl.c[i], units_only);
	return r < 0 ? r : (int)cl.n;
}

int dp_hostdev_set_from_owner(const struct dp_pci_list *list, const char *owner,
                              struct dp_hostdev_set *out)
{
	_cleanup_(dp_hostdev_set_freep) struct dp_hostdev_set s = {0};
	if (!owner || !*owner)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "owner", "no owner given");
	int r = dp_hostdev_set_add_claims(&s, list, owner, false);
	if (r < 0)
		return r;
	if (r == 0)
		return dp_error_set(-ENOENT, "'%.128s' holds no claims: nothing to export", owner);
	*out = s;
	s = (struct dp_hostdev_set){0};
	return 0;
}
