/* Internal: the checks, split by subject. */
#ifndef DP_CHECKS_H
#define DP_CHECKS_H

#include "devpass.h"
#include "alloc-util.h"

/* A check that cannot be recorded for lack of memory (or anything a check needs that
 * cannot be allocated: dp_check_out_of_memory) makes dp_check_run fail as a whole: a
 * report missing a FAIL would read as ready. Per thread. */
void dp_check_add(struct dp_check_report *r, const char *name, enum dp_check_status st,
                  const char *fix, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void dp_check_out_of_memory(void);

/* persisted.c: what devpass set up for the next boots, against this boot */
void dp_check_boot_config(struct dp_check_report *r);
/* vfio-pci ids lines and driverctl overrides other tools made (one row each). */
void dp_check_foreign(struct dp_check_report *r);
void dp_check_persisted(struct dp_check_report *r, const struct dp_pci_list *list);
void dp_check_vfio_ids(struct dp_check_report *r, const struct dp_pci_list *list);
/* sriov.c: stored VF settings whose PF is gone or that are not in effect */
void dp_check_sriov(struct dp_check_report *r);
/* pools.c: conflicts, changed hardware, stale claims */
void dp_check_pools(struct dp_check_report *r, struct dp_pci_list *list);
/* mdev.c: parents devpass and mdevctl both manage; auto definitions without capacity */
void dp_check_mdev(struct dp_check_report *r);
/* USB controllers sharing a group with a host-critical device (quiet otherwise) */
void dp_check_usb(struct dp_check_report *r, const struct dp_pci_list *list);

#endif
