/* Guest PCI addresses on q35. Each pcie-root-port has exactly one slot, so every host
 * slot gets a root-port bus of its own (first_bus, first_bus+1, ...) and its functions
 * sit on slot 0 of it as on the host: a GPU and its HDMI audio stay one multifunction
 * device (guest drivers expect that), multifunction='on' on function 0. A slot whose
 * function 0 is not passed (a lone VF at 43:10.1) is renumbered from 0: a guest does not
 * look past a missing function 0. An mdev takes a bus of its own; USB needs no PCI slot. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "export/export.h"
#include "util/error.h"

#define GUEST_BUS_MAX 0xff

static bool is_pci_kind(const struct dp_hostdev *h)
{
	return h->kind == DP_HOSTDEV_PCI || h->kind == DP_HOSTDEV_NET;
}

static bool same_host_slot(const struct dp_pci_addr *a, const struct dp_pci_addr *b)
{
	return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot;
}

/* Bit f set: host function f of this slot is in the set. */
static unsigned slot_functions(const struct dp_hostdev_set *s, const struct dp_pci_addr *slot)
{
	struct dp_pci_addr a;
	unsigned mask = 0;
	for (size_t i = 0; i < s->n; i++)
		if (is_pci_kind(&s->h[i]) && dp_pci_addr_parse(s->h[i].address, &a) == 0 &&
		    same_host_slot(&a, slot) && a.func < 32)
			mask |= 1u << a.func;
	return mask;
}

/* The guest function of host function func: itself when function 0 is passed, else its
 * rank among the passed functions (whatever order the set lists them in). */
static int guest_function(unsigned mask, unsigned func)
{
	return (mask & 1u) ? (int)func : __builtin_popcount(mask & ((1u << func) - 1));
}

/* The entries of s on host slot `slot` get guest bus `bus`; returns 0 or -EINVAL. */
static int place_slot(struct dp_hostdev_set *s, const struct dp_pci_addr *slot, int bus)
{
	struct dp_pci_addr a;
	unsigned mask = slot_functions(s, slot);
	bool multi = __builtin_popcount(mask) > 1;
	for (size_t i = 0; i < s->n; i++) {
		struct dp_hostdev *h = &s->h[i];
		if (!is_pci_kind(h) || dp_pci_addr_parse(h->address, &a) < 0 || !same_host_slot(&a, slot))
			continue;
		int fn = guest_function(mask, a.func);
		if (fn > 7)
			return dp_error_set(-EINVAL, "%s: more functions of one slot than a guest slot holds",
			                    h->address);
		h->guest = (struct dp_guest_pci){.set = true, .bus = bus, .slot = 0, .function = fn,
		                                 .multifunction = fn == 0 && multi};
	}
	return 0;
}

static int bus_check(int bus)
{
	if (bus > GUEST_BUS_MAX)
		return dp_error_set_remedy(-E2BIG, DP_REMEDY_PARAMETER, "first_bus", "the devices need "
		                           "guest buses past 0xff (one root port per host slot): start "
		                           "at a lower bus or pass fewer devices");
	return 0;
}

static bool slot_seen(const struct dp_hostdev_set *s, size_t upto, const struct dp_pci_addr *slot)
{
	struct dp_pci_addr a;
	for (size_t i = 0; i < upto; i++)
		if (is_pci_kind(&s->h[i]) && dp_pci_addr_parse(s->h[i].address, &a) == 0 &&
		    same_host_slot(&a, slot))
			return true;
	return false;
}

static int place_pci(struct dp_hostdev_set *s, int *bus)
{
	struct dp_pci_addr a;
	for (size_t i = 0; i < s->n; i++) {
		if (!is_pci_kind(&s->h[i]))
			continue;
		if (dp_pci_addr_parse(s->h[i].address, &a) < 0)
			return dp_error_set(-EINVAL, "'%s' is not a PCI address", s->h[i].address);
		if (slot_seen(s, i, &a))
			continue;
		int r = bus_check(*bus);
		if (r < 0 || (r = place_slot(s, &a, (*bus)++)) < 0)
			return r;
	}
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
	int bus = first_bus, r = place_pci(s, &bus);
	for (size_t i = 0; r == 0 && i < s->n; i++) {
		if (s->h[i].kind != DP_HOSTDEV_MDEV)
			continue;
		if ((r = bus_check(bus)) == 0)
			s->h[i].guest = (struct dp_guest_pci){.set = true, .bus = bus++};
	}
	return r < 0 ? r : duplicates_check(s);
}
