/* Guest PCI addresses on q35. Each pcie-root-port has exactly one slot, so every host
 * device gets a root-port bus of its own (first_bus, first_bus+1, ...) and its functions
 * sit on slot 0 of it as on the host: a GPU and its HDMI audio stay one multifunction
 * device (guest drivers expect that), multifunction='on' on function 0.
 *
 * A host device here is the functions of one host slot that share an IOMMU group: VFs of
 * one PF sit on one host slot but are separate devices, each in a group of its own, so
 * each gets a bus of its own (and can be unplugged alone). When function 0 of a device is
 * not passed (a lone VF at 04:00.3) the passed functions are numbered from 0 in host
 * order: a guest does not look past a missing function 0. An mdev takes a bus of its own;
 * USB needs no PCI slot. */
#include <errno.h>
#include <string.h>

#include "alloc-util.h"
#include "export/export.h"
#include "util/error.h"

#define GUEST_BUS_MAX 0xff
#define HOST_FUNCTIONS 8

static bool is_pci_kind(const struct dp_hostdev *h)
{
	return h->kind == DP_HOSTDEV_PCI || h->kind == DP_HOSTDEV_NET;
}

/* The host function of a PCI entry, -1 when the entry is no (valid) PCI function. */
static int host_function(const struct dp_hostdev *h, struct dp_pci_addr *a)
{
	if (!is_pci_kind(h) || dp_pci_addr_parse(h->address, a) < 0 || a->func >= HOST_FUNCTIONS)
		return -1;
	return (int)a->func;
}

/* One guest device: the same host slot and the same IOMMU group. */
static bool same_device(const struct dp_hostdev *x, const struct dp_hostdev *y)
{
	struct dp_pci_addr a, b;
	if (host_function(x, &a) < 0 || host_function(y, &b) < 0)
		return false;
	return a.domain == b.domain && a.bus == b.bus && a.slot == b.slot && x->group == y->group;
}

/* Bit f set: host function f of the device of entry `of` is in the set. */
static unsigned device_functions(const struct dp_hostdev_set *s, const struct dp_hostdev *of)
{
	struct dp_pci_addr a;
	unsigned mask = 0;
	for (size_t i = 0; i < s->n; i++)
		if (same_device(&s->h[i], of) && host_function(&s->h[i], &a) >= 0)
			mask |= 1u << a.func;
	return mask;
}

/* The guest function of host function func: itself when function 0 is passed, else its
 * rank among the passed functions (whatever order the set lists them in). */
static int guest_function(unsigned mask, unsigned func)
{
	return (mask & 1u) ? (int)func : __builtin_popcount(mask & ((1u << func) - 1));
}

/* Every entry of the device of s->h[first] goes to guest bus `bus`. */
static void place_device(struct dp_hostdev_set *s, size_t first, int bus)
{
	struct dp_pci_addr a;
	unsigned mask = device_functions(s, &s->h[first]);
	bool multi = __builtin_popcount(mask) > 1;
	for (size_t i = first; i < s->n; i++) {
		if (!same_device(&s->h[i], &s->h[first]) || host_function(&s->h[i], &a) < 0)
			continue;
		int fn = guest_function(mask, a.func);
		s->h[i].guest = (struct dp_guest_pci){.set = true, .bus = bus, .slot = 0, .function = fn,
		                                      .multifunction = fn == 0 && multi};
	}
}

static int bus_take(int *bus)
{
	if (*bus > GUEST_BUS_MAX)
		return dp_error_set(-E2BIG, "the devices need guest buses past 0xff (one root port "
		                    "per device): start at a lower bus or pass fewer devices");
	return (*bus)++;
}

static bool device_seen(const struct dp_hostdev_set *s, size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (same_device(&s->h[i], &s->h[upto]))
			return true;
	return false;
}

static int place_entry(struct dp_hostdev_set *s, size_t i, int *bus)
{
	struct dp_pci_addr a;
	struct dp_hostdev *h = &s->h[i];
	if (h->kind == DP_HOSTDEV_USB)
		return 0;
	if (is_pci_kind(h) && host_function(h, &a) < 0)
		return dp_error_set(-EINVAL, "'%s' is not a PCI function address", h->address);
	if (is_pci_kind(h) && device_seen(s, i))
		return 0;
	int b = bus_take(bus);
	if (b < 0)
		return b;
	if (is_pci_kind(h))
		place_device(s, i, b);
	else
		h->guest = (struct dp_guest_pci){.set = true, .bus = b};
	return 0;
}

/* Two entries on one guest address would be refused by libvirt ("double use of PCI
 * Address"): a set naming one host function twice ends here. */
static int duplicates_check(const struct dp_hostdev_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = i + 1; s->h[i].guest.set && j < s->n; j++) {
			const struct dp_guest_pci *a = &s->h[i].guest, *b = &s->h[j].guest;
			if (b->set && a->bus == b->bus && a->slot == b->slot && a->function == b->function)
				return dp_error_set(-EEXIST, "%s and %s would share guest address %02x:%02x.%x",
				                    s->h[i].alias, s->h[j].alias, a->bus, a->slot, a->function);
		}
	return 0;
}

int dp_hostdev_set_place(struct dp_hostdev_set *s, int first_bus)
{
	if (first_bus < 1 || first_bus > GUEST_BUS_MAX)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "first_bus", "first guest bus "
		                           "%d is outside 1..255 (bus 0 is pcie-root)", first_bus);
	for (size_t i = 0; i < s->n; i++)
		s->h[i].guest = (struct dp_guest_pci){0};
	int bus = first_bus, r = 0;
	for (size_t i = 0; r == 0 && i < s->n; i++)
		r = place_entry(s, i, &bus);
	if (r < 0) {   /* nothing half-placed */
		for (size_t i = 0; i < s->n; i++)
			s->h[i].guest = (struct dp_guest_pci){0};
		return r;
	}
	return duplicates_check(s);
}
