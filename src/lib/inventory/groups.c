/* IOMMU groups: which functions travel together, and whether the kernel would let vfio
 * use the group as it stands. */
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include "devpass.h"
#include "alloc-util.h"
#include "inventory/inventory.h"

/* Drivers that leave a group usable by vfio: vfio-pci itself and pci-stub, which
 * claim no DMA; bridges may also keep pcieport/shpchp. */
bool dp_driver_is_passthrough_safe(const char *driver)
{
	return !driver[0] || strcmp(driver, "vfio-pci") == 0 || strcmp(driver, "pci-stub") == 0;
}

static bool member_viable(const struct dp_pci_device *dev)
{
	if (dp_driver_is_passthrough_safe(dev->driver))
		return true;
	return dp_pci_device_is_bridge(dev) &&
	       (strcmp(dev->driver, "pcieport") == 0 || strcmp(dev->driver, "shpchp") == 0);
}

static int group_compare(const void *a, const void *b)
{
	return ((const struct dp_iommu_group *)a)->number - ((const struct dp_iommu_group *)b)->number;
}

/* -ENOMEM when a reason could not be recorded. */
static int group_judge(struct dp_iommu_group *g, const struct dp_pci_list *list)
{
	for (size_t k = 0; k < g->n; k++) {
		const struct dp_pci_device *dev = &list->dev[g->members[k]];
		/* a root port's own reasons stay with it: bridges are not handed to VMs */
		if (dev->critical.n && !dp_pci_device_is_bridge(dev))
			g->host_critical = true;
		if (!member_viable(dev)) {
			g->viable = false;
			if (dp_strv_addf(&g->not_viable_reasons, "%s is bound to %s", dev->address,
			                 dev->driver) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Group numbers are small and dense: an index by number, filled in passes (count each
 * group's members, make the groups in number order, place the members) keeps this linear
 * with one allocation per group on hosts with thousands of VFs, and sorted. */
static int groups_make(const struct dp_pci_list *list, struct dp_group_list *out, size_t *slot,
                       int max)
{
	for (size_t i = 0; i < list->n; i++)
		if (list->dev[i].iommu_group >= 0)
			slot[list->dev[i].iommu_group]++;
	for (int num = 0; num <= max; num++) {
		if (!slot[num])
			continue;
		struct dp_iommu_group *g = &out->g[out->n];
		*g = (struct dp_iommu_group){.number = num, .viable = true};
		if (!(g->members = calloc(slot[num], sizeof(*g->members))))
			return -ENOMEM;
		slot[num] = out->n++;   /* from here on: the group's index */
	}
	for (size_t i = 0; i < list->n; i++) {
		int num = list->dev[i].iommu_group;
		if (num >= 0) {
			struct dp_iommu_group *g = &out->g[slot[num]];
			g->members[g->n++] = i;
		}
	}
	return 0;
}

int dp_groups_build(const struct dp_pci_list *list, struct dp_group_list *out)
{
	memset(out, 0, sizeof(*out));
	int max = -1;
	for (size_t i = 0; i < list->n; i++)
		if (list->dev[i].iommu_group > max)
			max = list->dev[i].iommu_group;
	_cleanup_free_ size_t *slot = calloc((size_t)max + 2, sizeof(*slot));
	out->g = calloc((size_t)max + 2, sizeof(*out->g));
	bool made = slot && out->g && groups_make(list, out, slot, max) == 0;
	for (size_t i = 0; made && i < out->n; i++)
		made = group_judge(&out->g[i], list) == 0;
	if (!made) {
		dp_groups_free(out);
		return dp_error_set(-ENOMEM, "out of memory building %d IOMMU groups", max + 1);
	}
	return 0;
}

void dp_groups_free(struct dp_group_list *groups)
{
	for (size_t i = 0; i < groups->n; i++) {
		free(groups->g[i].members);
		dp_strv_free(&groups->g[i].not_viable_reasons);
	}
	free(groups->g);
	memset(groups, 0, sizeof(*groups));
}

const struct dp_iommu_group *dp_groups_find(const struct dp_group_list *groups, int number)
{
	struct dp_iommu_group key = {.number = number};
	return bsearch(&key, groups->g, groups->n, sizeof(key), group_compare);
}
