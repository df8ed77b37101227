/* What claim, release and pool gc print: one row per claimed device. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct dp_column claim_columns[] = {
	{"address", "ADDRESS", DP_COL_TEXT, 0},
	{"pool", "POOL", DP_COL_TEXT, 0},
	{"owner", "OWNER", DP_COL_TEXT, 0},
	{"pid", "PID", DP_COL_TEXT, 0},
	{"claimed_at", "CLAIMED AT", 0, 0},
	{"group", "IOMMU", DP_COL_TEXT, 0},
	{"numa", "NUMA", DP_COL_TEXT, 0},
	{"vfio", "VFIO", DP_COL_TEXT, 0},
	{"functions", "FUNCTIONS", DP_COL_TEXT, 0},
	{"took_over", "TOOK OVER", 0, 0},
	{"held", "HELD", 0, 0},
	{"action", "RELEASED", DP_COL_TEXT, 0},
	{"reset", "RESET", DP_COL_TEXT, 0},
};

static void claim_row(struct dp_table *t, const struct dp_claim *c, bool release)
{
	dp_table_add_row(t);
	dp_table_set_str(t, "address", c->address);
	dp_table_set_str(t, "pool", c->pool);
	dp_table_set_str(t, "owner", c->owner);
	if (c->pid > 0)
		dp_table_set_int(t, "pid", c->pid);
	else
		dp_table_set_null(t, "pid");
	dp_table_set_int(t, "claimed_at", c->claimed_at);
	if (c->group >= 0) {
		dp_table_set_int(t, "group", c->group);
		if (!release)
			dp_table_set_strf(t, "vfio", "/dev/vfio/%d", c->group);
	} else {
		dp_table_set_null(t, "group");
	}
	if (c->numa >= 0)
		dp_table_set_int(t, "numa", c->numa);
	else
		dp_table_set_null(t, "numa");
	dp_table_set_strv(t, "functions", &c->functions);
	if (!release) {
		dp_table_set_bool(t, "took_over", c->took_over);
		dp_table_set_bool(t, "held", c->held);
	}
	else {
		dp_table_set_str(t, "action", c->action);
		dp_table_set_bool(t, "reset", c->reset);
	}
}

/* Release rows leave out the /dev/vfio node (gone or not theirs any more); claim rows
 * leave out what release did. */
int cli_claims_report(const struct dp_claim_list *claims, const struct cli_ctx *ctx, bool release,
                      int error)
{
	struct dp_column cols[sizeof(claim_columns) / sizeof(claim_columns[0])];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		const char *k = claim_columns[i].key;
		bool release_only = !strcmp(k, "action") || !strcmp(k, "reset");
		bool claim_only = !strcmp(k, "vfio") || !strcmp(k, "took_over") || !strcmp(k, "held");
		if (release ? !claim_only : !release_only)
			cols[n++] = claim_columns[i];
	}
	for (size_t i = 0; i < claims->warnings.n; i++)
		fprintf(stderr, "devpass: %s\n", claims->warnings.v[i]);
	char hint[256];
	if (*cli_advice(claims->next, NULL, hint, sizeof(hint)))
		fprintf(stderr, "devpass: (%s)\n", hint);
	if (error < 0 && claims->n == 0)
		return cli_lib_error(cli_exit_for(error));
	struct dp_table *t = dp_table_new(cols, n);
	for (size_t i = 0; i < claims->n; i++)
		claim_row(t, &claims->c[i], release);
	if (claims->n || ctx->json)
		dp_table_print(t, stdout, ctx->json);
	dp_table_free(t);
	return error < 0 ? cli_lib_error(cli_exit_for(error)) : EXIT_OK;
}
