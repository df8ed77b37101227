/* Internal pieces of the inventory, shared by its files and the layers above. */
#ifndef DP_INVENTORY_H
#define DP_INVENTORY_H

#include "devpass.h"

/* address.c: is a sysfs entry name a full PCI address ("0000:01:00.0")? */
bool dp_pci_addr_is_valid_name(const char *name);

/* names.c: names from libpci (pci.ids / udev hwdb), interned */
void dp_names_fill(struct dp_pci_device *dev);
const char *dp_names_class(unsigned class_code_24);

/* config.c: config space, and the identity read in parts */
int dp_pci_config_parse(const uint8_t *cfg, size_t len, struct dp_pci_details *out);
/* the PF of a VF ("" when not one), a PF's VF count (-1) */
void dp_pci_physfn_read(const struct dp_pci_device *dev, char out[DP_ADDR_LEN]);
int dp_pci_sriov_total(const struct dp_pci_device *dev);
void dp_dsn_format(uint64_t dsn, char *out, size_t size);

/* groups.c: drivers that claim no DMA, so a group member on them keeps it viable */
bool dp_driver_is_passthrough_safe(const char *driver);

#endif
