/* Mediated devices of a VM (--mdev POOL): made by the pool's claim when the VM starts
 * (the claim is the device), passed to QEMU by uuid, removed by the release at stop. */
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vm/vm.h"

/* What the pool's parents can make now: the free (parent, type) pairs' counts. */
static unsigned mdev_pool_room(const struct dp_pool_members *m)
{
	unsigned room = 0;
	for (size_t i = 0; i < m->n; i++) {
		const char *colon = m->m[i].reason ? strrchr(m->m[i].reason, ':') : NULL;
		if (m->m[i].state == DP_MEMBER_FREE && colon)
			room += (unsigned)strtoul(colon + 1, NULL, 10);
	}
	return room;
}

/* The pool must be an mdev pool: another kind's claim would hand out PCI functions or
 * USB devices where QEMU expects mediated devices. */
static int mdev_pool_kind(const char *name, struct dp_vm_report *r)
{
	struct dp_pool_list pools = {0};
	int ret = dp_pools_read(&pools);
	const struct dp_pool *found = NULL;
	for (size_t i = 0; ret == 0 && i < pools.n; i++)
		if (strcmp(pools.p[i].name, name) == 0)
			found = &pools.p[i];
	if (ret < 0)
		ret = dp_vm_report_add(r, "mdev", DP_VM_FAIL, NULL, "%s", dp_error_message());
	else if (!found)
		ret = dp_vm_report_add(r, "mdev", DP_VM_FAIL, NULL, "no mdev pool named '%s' (a bare "
		                       "mdev type is not taken: an mdev pool with the rule type=%s "
		                       "serves it)", name, name);
	else if (found->type != DP_POOL_MDEV)
		ret = dp_vm_report_add(r, "mdev", DP_VM_FAIL, NULL, "pool '%s' is a %s pool, not an "
		                       "mdev pool", name, dp_pool_type_name(found->type));
	else
		ret = 1;
	dp_pool_list_free(&pools);
	return ret;
}

int dp_vm_plan_mdev(const struct dp_vm_device *want, struct dp_vm_report *r)
{
	int kind = mdev_pool_kind(want->spec, r);
	if (kind <= 0)
		return kind;
	struct dp_pool_members m = {0};
	static const struct dp_pci_list none = {0};
	int ret = dp_pool_members_read(&none, want->spec, &m);
	if (ret < 0)
		return dp_vm_report_add(r, "mdev", DP_VM_FAIL, NULL, "%s", dp_error_message());
	unsigned room = mdev_pool_room(&m);
	dp_pool_members_free(&m);
	if (room >= want->count)
		return dp_vm_report_add(r, "mdev", DP_VM_OK, NULL, "mdev pool %s: its parents can make "
		                        "%u device(s), the VM needs %u (made when it starts)", want->spec,
		                        room, want->count);
	return dp_vm_report_add(r, "mdev", DP_VM_FAIL, NULL, "mdev pool %s: the VM needs %u "
	                        "device(s), its parents can make %u now", want->spec, want->count, room);
}
