/* devpass groups — IOMMU groups in number order: what travels together. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

/* JSON: one object per group with its members */
static const struct dp_column group_columns[] = {
	{"group", "GROUP", 0, 0},
	{"viable", "VIABLE", 0, 0},
	{"not_viable_reasons", "BLOCKED BY", 0, 0},
	{"host_critical", "CRITICAL", 0, 0},
	{"devices", "DEVICES", 0, 0},
};

/* text: one line per member, the group's facts on its first line */
static const struct dp_column member_columns[] = {
	{"group", "GROUP", DP_COL_TEXT, 0},
	{"viable", "VIABLE", DP_COL_TEXT, 0},
	{"address", "ADDRESS", DP_COL_TEXT, 0},
	{"driver", "DRIVER", DP_COL_TEXT, 0},
	{"critical", "CRITICAL", DP_COL_TEXT, 0},
	{"description", "DESCRIPTION", DP_COL_TEXT, 0},
};

static void member_rows(struct dp_table *t, const struct dp_pci_list *list,
                        const struct dp_iommu_group *g)
{
	for (size_t k = 0; k < g->n; k++) {
		const struct dp_pci_device *d = &list->dev[g->members[k]];
		dp_table_add_row(t);
		if (k == 0) {
			dp_table_set_int(t, "group", g->number);
			dp_table_set_str(t, "viable", g->viable ? "yes" : "no");
		} else {
			dp_table_set_str(t, "group", "");
			dp_table_set_str(t, "viable", "");
		}
		dp_table_set_str(t, "address", d->address);
		dp_table_set_str(t, "driver", d->driver[0] ? d->driver : NULL);
		dp_table_set_bool(t, "critical", d->critical.n > 0);
		dp_table_set_str(t, "description", d->description);
	}
}

static void group_row(struct dp_table *t, const struct dp_pci_list *list,
                      const struct dp_iommu_group *g)
{
	struct json_object *devices = json_object_new_array();
	for (size_t k = 0; k < g->n; k++) {
		const struct dp_pci_device *d = &list->dev[g->members[k]];
		struct json_object *m = json_object_new_object();
		cli_json_add_device_summary(m, d);
		struct json_object *reasons = json_object_new_array();
		for (size_t i = 0; i < d->critical.n; i++)
			json_object_array_add(reasons, json_object_new_string(d->critical.v[i]));
		json_object_object_add(m, "host_critical_reasons", reasons);
		json_object_array_add(devices, m);
	}
	dp_table_add_row(t);
	dp_table_set_int(t, "group", g->number);
	dp_table_set_bool(t, "viable", g->viable);
	dp_table_set_strv(t, "not_viable_reasons", &g->not_viable_reasons);
	dp_table_set_bool(t, "host_critical", g->host_critical);
	dp_table_set_json(t, "devices", devices);
}

int cmd_groups(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct cli_option opts[] = {{"wide", 'w', false, 'w'}, {NULL, 0, false, 0}};
	struct cli_opts p;
	bool wide = false;
	int c;
	cli_opts_init(&p, argc, argv, "groups", opts);
	while ((c = cli_opts_next(&p)) > 0)
		wide = true;
	if (c < 0)
		return p.exit;
	int r = cli_opts_count(&p, 0, 0, NULL);
	struct dp_pci_list list = {0};
	if (r || (r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	struct dp_group_list groups;
	dp_groups_build(&list, &groups);
	if (groups.n == 0) {   /* like check: the host is not ready, and an empty table says nothing */
		if (ctx->json)
			printf("[]\n");
		dp_groups_free(&groups);
		dp_pci_list_free(&list);
		return cli_error(EXIT_FAILED, "no IOMMU groups: the IOMMU is off or absent, so no device "
		                 "can be passed through (devpass check says what to fix)");
	}
	struct dp_table *t = ctx->json
		? dp_table_new(group_columns, sizeof(group_columns) / sizeof(group_columns[0]))
		: dp_table_new(member_columns, sizeof(member_columns) / sizeof(member_columns[0]));
	for (size_t i = 0; i < groups.n; i++)
		(ctx->json ? group_row : member_rows)(t, &list, &groups.g[i]);
	if (ctx->json)
		dp_table_print(t, stdout, true);
	else
		cli_table_print_fitted(t, stdout, wide);
	dp_table_free(t);
	dp_groups_free(&groups);
	dp_pci_list_free(&list);
	return EXIT_OK;
}
