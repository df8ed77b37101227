/* Checks of mediated device definitions: parents that both devpass and mdevctl manage,
 * and auto definitions whose parent is present but has no capacity left for them. Quiet
 * on hosts without definitions. */
#include <stdio.h>
#include <string.h>

#include "hostcheck/checks.h"

static int type_available(const struct dp_mdev_type_list *types, const struct dp_mdev_def *d)
{
	for (size_t i = 0; i < types->n; i++)
		if (strcmp(types->t[i].parent, d->parent) == 0 && strcmp(types->t[i].type, d->type) == 0)
			return types->t[i].available;
	return -1;   /* parent absent (it may appear later) or type gone */
}

static bool def_active(const struct dp_mdev_list *l, const char *uuid)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->m[i].uuid, uuid) == 0)
			return l->m[i].active;
	return false;
}

static void check_capacity(struct dp_check_report *r, const struct dp_mdev_def_list *defs)
{
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list types = {0};
	_cleanup_(dp_mdev_list_freep) struct dp_mdev_list devs = {0};
	if (dp_mdev_types_read(NULL, &types) < 0 || dp_mdev_list_read(&devs) < 0) {
		dp_check_add(r, "mdev", DP_CHECK_WARN, NULL, "%s", dp_error_message());
		return;
	}
	size_t short_of = 0;
	for (size_t i = 0; i < defs->n; i++) {
		const struct dp_mdev_def *d = &defs->d[i];
		if (!d->auto_start || def_active(&devs, d->uuid) || type_available(&types, d) != 0)
			continue;
		short_of++;
		dp_check_add(r, "mdev", DP_CHECK_WARN, "remove another mdev of the parent, or "
		             "undefine this one", "definition %s (%s on %s) starts with its parent, "
		             "which has no capacity left for that type", d->uuid, d->type, d->parent);
	}
	if (!short_of)
		dp_check_add(r, "mdev", DP_CHECK_PASS, NULL, "%zu mdev definitions; their parents have "
		             "room for the ones not active", defs->n);
}

void dp_check_mdev(struct dp_check_report *r)
{
	_cleanup_(dp_mdev_def_list_freep) struct dp_mdev_def_list defs = {0};
	_cleanup_(dp_strv_freep) struct dp_strv dual = {0};
	if (dp_mdev_defs_read(&defs) < 0 || dp_mdev_dual_managed(&dual) < 0) {
		dp_check_add(r, "mdev", DP_CHECK_WARN, NULL, "%s", dp_error_message());
		return;
	}
	for (size_t i = 0; i < dual.n; i++) {
		char fix[160];
		snprintf(fix, sizeof(fix), "devpass mdev import, then remove /etc/mdevctl.d/%s",
		         dual.v[i]);
		dp_check_add(r, "mdev", DP_CHECK_WARN, fix, "parent %s has definitions both in devpass "
		             "and in /etc/mdevctl.d: both manage it, and both would create its devices",
		             dual.v[i]);
	}
	if (defs.n)
		check_capacity(r, &defs);
}
