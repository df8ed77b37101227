/* Internal: the view that joins the pools' definitions with the inventory (who matches
 * what, in which state). */
#ifndef DP_POOLS_VIEW_H
#define DP_POOLS_VIEW_H

#include "pools/db.h"

/* view.c — membership and state, computed from the inventory and the database */
struct view_claim {
	char address[DP_ADDR_LEN];
	long long pool_id;
	char member[DP_ADDR_LEN];
	char owner[128];
	int pid;
	long long pid_start, claimed_at;
	bool stale;
};
struct view_fingerprint {
	char address[DP_ADDR_LEN];
	long long pool_id;
	uint16_t vendor, device, subsys_vendor, subsys_device;
	bool has_subsys;
	uint32_t class_code;
	char serial[64], dsn[24], physfn[DP_ADDR_LEN];
	int numa, sriov_total;
	long long joined_at;
};
struct view_quarantine {
	char address[DP_ADDR_LEN];
	char owner[128];             /* the last tenant, whose data a wipe is for */
	long long since;
};
struct view_device {
	struct dp_strv pools;        /* every matching pool's name (conflict when > 1) */
	char driver[64];             /* what rules see: the driver before devpass, else now */
	struct dp_pci_identity id;   /* read in parts, as far as needed: */
	bool physfn_read;            /*   id.physfn (one readlink) */
	bool sriov_read;             /*   id.sriov_total (VFs have none) */
	bool id_read;                /*   everything (config space, NVMe serial) */
};
struct pool_view {
	const struct dp_pci_list *list;
	struct pool_defs defs;
	struct view_device *dev;     /* one per list entry */
	struct view_claim *claims;
	size_t nclaims;
	struct view_fingerprint *prints;
	size_t nprints;
	struct view_quarantine *quarantine;
	size_t nquarantine;
	struct dp_group_list groups;
};
/* match: which pools' rules each device matches (release and gc need only the claims) */
int pool_view_build(struct pool_db *p, const struct dp_pci_list *list, struct pool_view *v,
                    bool match);
void pool_view_free(struct pool_view *v);
/* The device's identity, read on first use; the cheap parts on their own. */
const struct dp_pci_identity *view_identity(struct pool_view *v, size_t i);
const char *view_physfn(struct pool_view *v, size_t i);
int view_sriov_total(struct pool_view *v, size_t i);
const struct view_claim *view_claim_find(const struct pool_view *v, const char *address);
const struct view_quarantine *view_quarantine_find(const struct pool_view *v, const char *address);
const struct view_fingerprint *view_print_find(const struct pool_view *v, long long pool_id,
                                               const char *address);
/* Members of one pool (def index), with states; the fingerprints of new members are
 * recorded when record is set (inside the caller's transaction). */
int view_members(struct pool_view *v, struct pool_db *p, size_t def, bool record,
                 struct dp_pool_members *out);
/* Devices one rule alone would bring into a pool of this type (bridges never). */
size_t view_rule_count(struct pool_view *v, enum dp_pool_type type, const struct dp_rule *rule);
/* Fingerprints of devices that no longer match (and hold nothing) are dropped. */
int view_prints_prune(struct pool_view *v, struct pool_db *p, size_t def);
/* What differs between the recorded and the present identity (*out; NULL when nothing);
 * -ENOMEM. */
int view_print_diff(struct pool_view *v, const struct view_fingerprint *f, size_t i, char **out);


#endif
