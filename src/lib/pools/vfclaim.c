/* The MAC and VLAN a claim of an sriov-vf pool asks for (claim --mac --vlan): applied to
 * the VF through its PF before the VF goes to vfio-pci (the PF's driver sets them over
 * netlink; the guest's VF driver then finds them), recorded in claim_vf_settings, and
 * undone at release (MAC zero, no VLAN, the stored settings forgotten) so the next owner
 * does not inherit a tenant's address or network. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pools/vfclaim.h"
#include "util/error.h"

static int vf_apply(const char *address, const struct dp_vf_settings *s)
{
	char pf[64];
	int vf;
	int r = dp_sriov_vf_locate(address, pf, sizeof(pf), &vf);
	if (r < 0)
		return r;
	if ((r = dp_sriov_vf_set(pf, vf, s)) < 0)
		return dp_error_set(r, "VF %s (VF %d of %s) refused the claim's settings: %s", address,
		                    vf, pf, dp_error_message());
	return 0;
}

int vf_claim_check(const struct pool_def *def, const struct dp_claim_request *req)
{
	if (!req->vf)
		return 0;
	if (def && def->pool.type != DP_POOL_SRIOV_VF)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "vf", "pool '%s' is a %s pool: "
		                           "a MAC or VLAN is for the VFs of an sriov-vf pool",
		                           def->pool.name, dp_pool_type_name(def->pool.type));
	if ((req->vf->set & DP_VF_SET_MAC) && req->count != 1)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "count", "one MAC address is "
		                           "for one VF, not a count of them");
	return dp_vf_settings_check(req->vf);
}

int vf_claim_apply(struct pool_db *p, const struct dp_claim_list *out, const struct dp_vf_settings *s)
{
	for (size_t i = 0; s && i < out->n; i++) {
		const struct dp_claim *c = &out->c[i];
		char mac[18] = "";
		if (s->set & DP_VF_SET_MAC)
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", s->mac[0], s->mac[1],
			         s->mac[2], s->mac[3], s->mac[4], s->mac[5]);
		int r = vf_apply(c->address, s);
		if (r == 0)
			r = pool_db_run(p, "record the VF settings", "INSERT OR REPLACE INTO claim_vf_settings "
			                "(address, mac, vlan) VALUES (?1, ?2, ?3)", "ssi", c->address, mac,
			                (long long)((s->set & DP_VF_SET_VLAN) ? s->vlan : -1));
		if (r < 0)
			return r;
	}
	return 0;
}

int vf_claim_undo(struct pool_db *p, const char *address)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = pool_db_query(p, "SELECT mac, vlan FROM "
		"claim_vf_settings WHERE address = ?1", "s", address);
	if (!st || sqlite3_step(st) != SQLITE_ROW)
		return 0;   /* the claim asked for nothing */
	struct dp_vf_settings clear = {.set = 0};
	if (*(const char *)sqlite3_column_text(st, 0))
		clear.set |= DP_VF_SET_MAC;   /* all zero: the PF's driver gives the VF none */
	if (sqlite3_column_int(st, 1) >= 0)
		clear.set |= DP_VF_SET_VLAN;
	char pf[64];
	int vf, r = dp_sriov_vf_locate(address, pf, sizeof(pf), &vf);
	if (r == 0 && clear.set)
		r = dp_sriov_vf_set(pf, vf, &clear);
	if (r == 0)
		dp_sriov_vf_unset_stored(pf, vf);
	return r;
}

int vf_claim_settings_read(const char *address, char mac[18], int *vlan)
{
	_cleanup_(pool_db_closep) struct pool_db p = POOL_DB_NULL;
	mac[0] = '\0';
	*vlan = -1;
	int r = pool_db_open(&p, false);
	if (r < 0 || !p.db)
		return r < 0 ? r : -ENOENT;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = pool_db_query(&p, "SELECT mac, vlan FROM "
		"claim_vf_settings WHERE address = ?1", "s", address);
	if (!st || sqlite3_step(st) != SQLITE_ROW)
		return -ENOENT;
	const char *text = (const char *)sqlite3_column_text(st, 0);
	snprintf(mac, 18, "%s", text ? text : "");
	*vlan = sqlite3_column_int(st, 1);
	return 0;
}
