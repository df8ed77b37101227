/* Internal pieces of the binding engine. */
#ifndef DP_BINDING_H
#define DP_BINDING_H

#include "devpass.h"
#include "alloc-util.h"

/* ledger.c — what each device had before devpass first changed it */
struct dp_ledger;
int dp_ledger_open(struct dp_ledger **out, bool create);
void dp_ledger_close(struct dp_ledger *l);
/* Records the original state unless the device is recorded already; *created tells
 * whether this call made the record. */
int dp_ledger_record(struct dp_ledger *l, const struct dp_pci_device *dev,
                     const char *override, bool *created);
/* 1 and the original driver/override when recorded, 0 when not, <0 on error. */
int dp_ledger_get(struct dp_ledger *l, const char *address, char *driver, size_t dsize,
                  char *override, size_t osize);
int dp_ledger_forget(struct dp_ledger *l, const char *address);
/* One transaction (one sync) around many records or forgets. */
int dp_ledger_begin(struct dp_ledger *l);
int dp_ledger_commit(struct dp_ledger *l);
int dp_ledger_addresses(struct dp_ledger *l, struct dp_strv *out);

/* locks.c — one flock per IOMMU group ("group-N") or group-less function ("device-ADDR"),
 * always taken in sorted order */
struct dp_group_locks {
	int *fds;
	size_t n;
};
int dp_lock_name_add(struct dp_strv *names, int group, const char *address);   /* -ENOMEM */
int dp_locks_take(struct dp_strv *names, struct dp_group_locks *out);
void dp_group_locks_release(struct dp_group_locks *locks);

/* inuse.c — processes holding a device's nodes */
int dp_device_users(const struct dp_pci_device *dev, struct dp_strv *users);   /* count, -ENOMEM */
/* Drops what was read of /proc, so the next question reads it again. */
void dp_device_users_forget(void);

/* modules.c — makes sure a PCI driver is registered, loading its module if needed */
int dp_driver_ensure(const char *driver);
/* 0 when the driver is registered or a module of that name is installed, else -ENOENT
 * with a message: a plan for a driver that does not exist is refused up front. */
int dp_driver_known(const char *driver);

/* attributes read fresh (after taking the locks) */
int dp_device_driver(const char *address, char *driver, size_t size);
int dp_device_override(const char *address, char *override, size_t size, int timeout_ms);

#endif
