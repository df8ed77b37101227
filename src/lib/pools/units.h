/* Internal: claims of the kinds that are not PCI functions (USB devices, mediated devices),
 * kept in unit_claims by what the member is: usb "vvvv:pppp:SERIAL" or "vvvv:pppp@PORT",
 * mdev the UUID. Nothing is bound for them: the row is the claim. */
#ifndef DP_POOLS_UNITS_H
#define DP_POOLS_UNITS_H

#include "pools/db.h"

struct unit_claim {
	char kind[8];
	char unit[192];
	long long pool_id;
	char pool[DP_POOL_NAME_MAX + 1];
	char owner[128];
	int pid;
	long long pid_start, claimed_at;
	char place[64];              /* usb: the port when claimed; mdev: the parent */
	char detail[96];             /* mdev: the type */
	bool stale;
};
struct unit_claims {
	struct unit_claim *c;
	size_t n;
};
/* kind NULL: every kind */
int unit_claims_load(struct pool_db *p, const char *kind, struct unit_claims *out);
void unit_claims_free(struct unit_claims *u);
DEFINE_CLEANUP_STRUCT(unit_claims, unit_claims_free)
const struct unit_claim *unit_claim_find(const struct unit_claims *u, const char *kind,
                                         const char *unit);
int unit_claim_insert(struct pool_db *p, const struct unit_claim *c);
int unit_claim_delete(struct pool_db *p, const struct unit_claim *c);
/* A dp_claim row for it; NULL when out of memory. */
struct dp_claim *unit_claim_report(struct dp_claim_list *out, const struct unit_claim *c,
                                   const char *where);
/* The pool's type, -ENOENT when there is no such pool (or no database). */
int unit_pool_type(const char *pool, enum dp_pool_type *type);

/* usbclaim.c: claim for req->owner from a pool of that kind */
int usb_pool_claim(const struct dp_claim_request *req, struct dp_claim_list *out);
/* The members of a usb pool with their states (claimed ones not plugged in: missing), and
 * how many present devices one rule matches. */
int usb_members(struct pool_db *p, const struct pool_defs *defs, const struct pool_def *def,
                struct dp_pool_members *out);
size_t usb_rule_count(const struct dp_rule *rule);
/* mdevclaim.c: creates req->count mediated devices from an mdev pool (on the parents of
 * node req->numa first, pci gives the PCI parents' nodes) and records them, or none. */
int mdev_pool_claim(const struct dp_pci_list *pci, const struct dp_claim_request *req,
                    struct dp_claim_list *out);
/* The (parent, type) pairs an mdev pool matches and the devices claimed from it. */
int mdev_members(struct pool_db *p, const struct dp_pci_list *pci, const struct pool_def *def,
                 struct dp_pool_members *out);
/* Whether an mdev type of the host is one the rule selects (parent, type, name). */
bool mdev_rule_selects(const struct dp_rule *rule, const struct dp_mdev_type *t);
size_t mdev_rule_count(const struct dp_rule *rule);
/* Releases the owner's unit claims (those named in which — unit, port or UUID — or all;
 * stale_only: those whose process is gone, of every owner). Returns how many, or -errno;
 * -ENOENT when a name in which is not the owner's. */
int units_release(const char *owner, char *const *which, size_t n, bool stale_only,
                  int timeout_ms, struct dp_claim_list *out);
int units_claims_read(const char *owner, struct dp_claim_list *out);

#endif
