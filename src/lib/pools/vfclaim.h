/* Internal: the VF settings a claim of an sriov-vf pool applies, and their undoing. */
#ifndef DP_POOLS_VFCLAIM_H
#define DP_POOLS_VFCLAIM_H

#include "pools/db.h"
#include "statedb/statedb.h"

/* req->vf only for sriov-vf pools, one MAC for one VF; -EINVAL with why */
int vf_claim_check(const struct pool_def *def, const struct dp_claim_request *req);
/* Applies s to every claimed VF and records it (inside the claim's transaction). */
int vf_claim_apply(struct pool_db *p, const struct dp_claim_list *out, const struct dp_vf_settings *s);
/* Clears the MAC and VLAN a claim set on this VF (nothing when it set none). */
int vf_claim_undo(struct pool_db *p, const char *address);
/* The MAC ("" none) and VLAN (-1 none) a claim set on this VF; -ENOENT when it set none. */
int vf_claim_settings_read(const char *address, char mac[18], int *vlan);

#endif
