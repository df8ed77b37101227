/* devpass check — host readiness, one line per check, with the fix for each failure. */
#include <json-c/json.h>
#include <stdio.h>

#include "cli.h"

static const struct dp_column check_columns[] = {
	{"status", "STATUS", DP_COL_TEXT, 0},
	{"name", "CHECK", DP_COL_TEXT, 0},
	{"detail", "DETAIL", DP_COL_TEXT, 0},
	{"fix", "FIX", 0, 0},
};

static const struct dp_column fix_columns[] = {
	{"name", "CHECK", DP_COL_TEXT, 0},
	{"fix", "FIX", DP_COL_TEXT, 0},
};

static const struct dp_column report_columns[] = {
	{"ready", "Ready", DP_COL_TEXT, 0},
	{"checks", "Checks", DP_COL_TEXT, 0},
};

int cmd_check(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	int r = cli_opts_none(argc, argv, "check", 0, 0, &p);
	if (r)
		return r;
	struct dp_check_report rep;
	if (dp_check_run(&rep) < 0)   /* out of memory: no report rather than one missing a FAIL */
		return cli_lib_error(EXIT_FAILED);
	bool ready = dp_check_report_ready(&rep);
	struct dp_table *t = dp_table_new(check_columns, sizeof(check_columns) / sizeof(check_columns[0]));
	struct dp_table *fixes = dp_table_new(fix_columns, sizeof(fix_columns) / sizeof(fix_columns[0]));
	for (size_t i = 0; i < rep.n; i++) {
		const struct dp_check *c = &rep.c[i];
		dp_table_add_row(t);
		dp_table_set_str(t, "status", dp_check_status_name(c->status));
		dp_table_set_str(t, "name", c->name);
		dp_table_set_str(t, "detail", c->detail);
		dp_table_set_str(t, "fix", c->status == DP_CHECK_PASS ? NULL : c->fix);
		if (c->status != DP_CHECK_PASS && c->fix) {
			dp_table_add_row(fixes);
			dp_table_set_str(fixes, "name", c->name);
			dp_table_set_str(fixes, "fix", c->fix);
		}
	}
	if (ctx->json) {
		struct dp_table *report = dp_table_new(report_columns, 2);
		dp_table_add_row(report);
		dp_table_set_bool(report, "ready", ready);
		dp_table_set_json(report, "checks", dp_table_to_json(t));
		dp_table_print_record(report, stdout, true);
		dp_table_free(report);
	} else {
		dp_table_print(t, stdout, false);
		if (dp_table_rows(fixes)) {
			printf("\nTo fix:\n");
			dp_table_print(fixes, stdout, false);
		}
		printf("\n%s\n", ready ? "This host is ready for device passthrough."
		                       : "This host is NOT ready for device passthrough.");
	}
	dp_table_free(fixes);
	dp_table_free(t);
	dp_check_report_free(&rep);
	return ready ? EXIT_OK : EXIT_FAILED;
}
