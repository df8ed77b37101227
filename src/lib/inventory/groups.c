/* IOMMU groups: which functions travel together, and whether the kernel would let vfio
 * use the group as it stands. */
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include "devpass.h"
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

static struct dp_iommu_group *group_add(struct dp_group_list *out, int number)
{
	out->g = realloc(out->g, (out->n + 1) * sizeof(*out->g));
	struct dp_iommu_group *g = &out->g[out->n++];
	memset(g, 0, sizeof(*g));
	g->number = number;
	g->viable = true;
	return g;
}

static void group_judge(struct dp_iommu_group *g, const struct dp_pci_list *list)
{
	for (size_t k = 0; k < g->n; k++) {
		const struct dp_pci_device *dev = &list->dev[g->members[k]];
		/* a root port's own reasons stay with it: bridges are not handed to VMs */
		if (dev->critical.n && !dp_pci_device_is_bridge(dev))
			g->host_critical = true;
		if (!member_viable(dev)) {
			g->viable = false;
			dp_strv_addf(&g->not_viable_reasons, "%s is bound to %s", dev->address, dev->driver);
		}
	}
}

int dp_groups_build(const struct dp_pci_list *list, struct dp_group_list *out)
{
	memset(out, 0, sizeof(*out));
	/* An index from group number to slot keeps this linear on hosts with many VFs. */
	int max = -1;
	for (size_t i = 0; i < list->n; i++)
		if (list->dev[i].iommu_group > max)
			max = list->dev[i].iommu_group;
	ssize_t *slot = malloc(((size_t)max + 2) * sizeof(*slot));
	for (int i = 0; i <= max; i++)
		slot[i] = -1;
	for (size_t i = 0; i < list->n; i++) {
		int num = list->dev[i].iommu_group;
		if (num < 0)
			continue;
		if (slot[num] < 0) {
			group_add(out, num);
			slot[num] = (ssize_t)out->n - 1;
		}
		struct dp_iommu_group *g = &out->g[slot[num]];
		g->members = realloc(g->members, (g->n + 1) * sizeof(*g->members));
		g->members[g->n++] = i;
	}
	free(slot);
	for (size_t i = 0; i < out->n; i++)
		group_judge(&out->g[i], list);
	qsort(out->g, out->n, sizeof(*out->g), group_compare);
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
