/* The devices of a devpass VM as a hostdev set (`export libvirt --vm`): what its definition
 * names, and for a running VM what it took. A stopped VM's pool requests have no member
 * yet (one is picked at start): each is a warning, not a guess. */
#include <errno.h>
#include <string.h>

#include "alloc-util.h"
#include "devpass.h"
#include "export/export.h"
#include "util/error.h"
#include "vm/vm.h"

DEFINE_CLEANUP_STRUCT(dp_hostdev_set, dp_hostdev_set_free)

static bool wants_pool(const struct dp_vm_device *d)
{
	return d->want == DP_VM_WANT_POOL || d->want == DP_VM_WANT_MDEV ||
	       (d->want == DP_VM_WANT_USB && dp_vm_usb_spec_kind(d->spec) == VM_USB_POOL);
}

/* A device the definition names: an address, gpu/nvme chosen at create, a USB port or id. */
static int named_add(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                     const struct dp_vm_device *d)
{
	const char *name = d->want == DP_VM_WANT_ADDRESS || d->want == DP_VM_WANT_USB ? d->spec
	                 : d->address;
	if (!name[0])
		return dp_strv_addf(&s->warnings, "%s %s has no device chosen yet: left out",
		                    dp_vm_want_name(d->want), d->spec) < 0 ? dp_oom() : 0;
	return dp_hostdev_set_add_device(s, list, name, NULL);
}

static int stopped_add(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                       const struct dp_vm_def *def)
{
	for (size_t i = 0; i < def->ndevices; i++) {
		const struct dp_vm_device *d = &def->devices[i];
		int r = wants_pool(d) ? dp_strv_addf(&s->warnings, "pool %s: the VM is stopped, its "
		                                     "member is picked when it starts: left out", d->spec)
		      : named_add(s, list, d);
		if (r < 0)
			return r == -ENOMEM ? dp_oom() : r;
	}
	return 0;
}

/* Running: the PCI functions it took (explicit and from pools), its USB devices named by
 * port or id, and the usb/mdev members its pool claims hold. */
static int running_add(struct dp_hostdev_set *s, const struct dp_pci_list *list,
                       const struct dp_vm_def *def, const struct dp_vm_status *st)
{
	for (size_t i = 0; i < st->ntaken; i++) {
		const struct dp_pci_device *dev = dp_pci_list_find(list, st->taken[i].address);
		int r = dev ? dp_hostdev_set_add_pci(s, list, dev, st->taken[i].pool)
		            : dp_strv_addf(&s->warnings, "%s is not on this host now: left out",
		                           st->taken[i].address);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < def->ndevices; i++) {
		const struct dp_vm_device *d = &def->devices[i];
		int r = d->want == DP_VM_WANT_USB && !wants_pool(d) ? named_add(s, list, d) : 0;
		if (r < 0)
			return r;
	}
	char owner[128];
	dp_vm_owner(def->name, owner, sizeof(owner));
	int r = dp_hostdev_set_add_claims(s, list, owner, true);
	return r < 0 ? r : 0;
}

int dp_hostdev_set_from_vm(const struct dp_pci_list *list, const char *vm,
                           struct dp_hostdev_set *out)
{
	_cleanup_(dp_vm_def_freep) struct dp_vm_def def = {0};
	_cleanup_(dp_vm_status_freep) struct dp_vm_status st = {0};
	_cleanup_(dp_hostdev_set_freep) struct dp_hostdev_set s = {0};
	int r = dp_vm_name_check(vm);
	if (r == 0)
		r = dp_vm_get(vm, &def, &st);
	if (r < 0)
		return r;
	r = st.state == DP_VM_STOPPED ? stopped_add(&s, list, &def) : running_add(&s, list, &def, &st);
	if (r < 0)
		return r;
	*out = s;
	s = (struct dp_hostdev_set){0};
	return 0;
}
