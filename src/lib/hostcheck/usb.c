/* Checks of USB controllers: one that shares its IOMMU group with a device the host needs
 * can only be passed through whole together with that device, which devpass refuses; its
 * USB devices can still go to VMs one at a time (usb-host). Quiet when no controller is in
 * that position, so hosts without the problem see no new row. */
#include <stdio.h>
#include <string.h>

#include "hostcheck/checks.h"
#include "inventory/critical.h"

#define PCI_CLASS_USB 0x0c03   /* serial bus controller, USB (base and sub-class) */

static const struct dp_pci_device *group_critical_peer(const struct dp_pci_list *list,
                                                       const struct dp_pci_device *ctl)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *d = &list->dev[i];
		if (d != ctl && d->iommu_group == ctl->iommu_group && d->critical.n &&
		    !crit_reason_inherited(d->critical.v[0]))
			return d;
	}
	return NULL;
}

void dp_check_usb(struct dp_check_report *r, const struct dp_pci_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *ctl = &list->dev[i];
		if (ctl->class_code >> 8 != PCI_CLASS_USB || ctl->iommu_group == DP_NO_GROUP)
			continue;
		const struct dp_pci_device *peer = group_critical_peer(list, ctl);
		if (!peer)
			continue;
		dp_check_add(r, "usb-controllers", DP_CHECK_WARN,
		             "pass its USB devices one at a time (usb-host), or move the controller "
		             "to a slot with a group of its own",
		             "USB controller %s shares IOMMU group %d with %s, which the host needs "
		             "(%s): the controller cannot be passed through whole", ctl->address,
		             ctl->iommu_group, peer->address, peer->critical.v[0]);
	}
}
