/* The pools check: devices two pools claim (claimable from neither), members whose
 * hardware changed, and claims whose process is gone. Shown only when pools exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostcheck/checks.h"
#include "inventory/inventory.h"

static bool name_rules_exist(const struct dp_pool_list *pools)
{
	for (size_t p = 0; p < pools->n; p++)
		for (size_t r = 0; r < pools->p[p].rules.n; r++) {
			struct dp_rule rule;
			bool uses = dp_rule_parse(pools->p[p].rules.v[r], &rule, NULL) == 0 &&
			            dp_rule_uses(&rule, DP_RK_NAME);
			dp_rule_free(&rule);
			if (uses)
				return true;
		}
	return false;
}

/* name= rules match descriptions, which the check's scan does not look up by default */
static void names_fill_if_used(const struct dp_pool_list *pools, struct dp_pci_list *list)
{
	if (!name_rules_exist(pools))
		return;
	for (size_t i = 0; i < list->n; i++)
		if (!list->dev[i].description)
			dp_names_fill(&list->dev[i]);
}

static void members_summarise(struct dp_check_report *r, const struct dp_pool_members *m)
{
	size_t changed = 0, stale = 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct dp_pool_member *x = &m->m[i];
		if (x->state == DP_MEMBER_CHANGED) {
			changed++;
			dp_check_add(r, "pools", DP_CHECK_WARN, "check the device; if the new one is "
			             "meant to be there, 'devpass pool rule rm' and 'rule add' record it anew",
			             "%s in pool '%s': %s", x->address, x->pool, x->reason);
		} else if (x->state == DP_MEMBER_CLAIMED && x->stale) {
			stale++;
			dp_check_add(r, "pools", DP_CHECK_WARN, "devpass pool gc",
			             "%s in pool '%s' is claimed by %s, whose process %d is gone",
			             x->address, x->pool, x->owner, x->pid);
		} else if (x->state == DP_MEMBER_CLAIMED && x->dev && strcmp(x->dev->driver, "vfio-pci")) {
			/* a claim without a process outlives a reboot; the binding does not */
			char fix[64];
			stale++;
			snprintf(fix, sizeof(fix), "devpass bind %s (the claim stands)", x->address);
			dp_check_add(r, "pools", DP_CHECK_WARN, fix,
			             "%s in pool '%s' is claimed by %s but bound to %s, not vfio-pci (a "
			             "reboot since the claim?)", x->address, x->pool, x->owner,
			             *x->dev->driver ? x->dev->driver : "no driver");
		}
	}
	if (!m->conflicts.n && !changed && !stale)
		dp_check_add(r, "pools", DP_CHECK_PASS, NULL, "%zu member(s); no conflicts, no changed "
		             "hardware, no stale claims", m->n);
}

void dp_check_pools(struct dp_check_report *r, struct dp_pci_list *list)
{
	_cleanup_(dp_pool_list_freep) struct dp_pool_list pools = {0};
	_cleanup_(dp_pool_members_freep) struct dp_pool_members m = {0};
	if (dp_pools_read(&pools) < 0) {
		dp_check_add(r, "pools", DP_CHECK_WARN, NULL, "%s", dp_error_message());
		return;
	}
	if (pools.n == 0)
		return;
	names_fill_if_used(&pools, list);
	if (dp_pool_members_read(list, NULL, &m) < 0) {
		dp_check_add(r, "pools", DP_CHECK_WARN, NULL, "%s", dp_error_message());
		return;
	}
	for (size_t i = 0; i < m.conflicts.n; i++)
		dp_check_add(r, "pools", DP_CHECK_WARN, "make the pools' rules exclusive (devpass pool "
		             "show POOL, devpass pool rule rm)", "a device several pools match is claimable "
		             "from none of them: %s", m.conflicts.v[i]);
	members_summarise(r, &m);
}
