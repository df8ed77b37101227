/* devpass setup iommu | setup --undo — kernel arguments through the boot loader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct dp_column setup_columns[] = {
	{"iommu", "IOMMU", DP_COL_TEXT, 0},
	{"loader", "Boot loader", DP_COL_TEXT, 0},
	{"wanted", "Arguments needed", DP_COL_TEXT, 0},
	{"configured", "Already configured", DP_COL_TEXT, 0},
	{"active", "Active now", DP_COL_TEXT, 0},
	{"instructions", "Instructions", 0, 0},
	CLI_CHANGESET_COLUMN_LIST,
};

struct setup_args {
	bool undo, dry_run, no_pt;
	const char *what;
};

static int args_parse(int argc, char **argv, struct setup_args *a)
{
	static const struct cli_option opts[] = {
		{"undo", 0, false, 'u'}, {"dry-run", 0, false, 'n'}, {"no-pt", 0, false, 'p'},
		{NULL, 0, false, 0}};
	struct cli_opts p;
	int c;
	memset(a, 0, sizeof(*a));
	cli_opts_init(&p, argc, argv, "setup", opts);
	while ((c = cli_opts_next(&p)) > 0) {
		switch (c) {
		case 'u': a->undo = true; break;
		case 'n': a->dry_run = true; break;
		case 'p': a->no_pt = true; break;
		}
	}
	if (c < 0)
		return p.exit;
	a->what = p.nargs ? p.args[0] : NULL;
	if (p.nargs > 1)
		return cli_error(EXIT_USAGE, "unexpected argument '%.100s' (see 'devpass setup --help')",
		                 p.args[1]);
	/* `setup iommu --undo` reads as the README's "setup iommu / --undo": the same undo */
	if (a->what && strcmp(a->what, "iommu") != 0)
		return cli_error(EXIT_USAGE, "devpass setup knows 'iommu', not '%.100s': devpass setup "
		                 "iommu [--no-pt] [--dry-run], or devpass setup --undo", a->what);
	if (!a->what && !a->undo)
		return cli_error(EXIT_USAGE, "devpass setup needs what to set up: devpass setup iommu "
		                 "[--no-pt] [--dry-run], or devpass setup --undo to put it back");
	if (a->undo && a->no_pt)
		return cli_error(EXIT_USAGE, "--no-pt goes with 'devpass setup iommu', not with --undo");
	return 0;
}

static void strv_cell(struct dp_table *t, const char *key, const struct dp_strv *sv, bool json)
{
	if (json) {
		dp_table_set_strv(t, key, sv);
		return;
	}
	char *text = dp_strv_join(sv, " ");   /* kernel arguments read as a command line */
	dp_table_set_str(t, key, sv->n ? text : "-");
	free(text);
}

static int setup_iommu(const struct setup_args *a, const struct cli_ctx *ctx)
{
	struct dp_setup_info info;
	struct dp_changeset cs;
	int r = dp_setup_iommu_plan(!a->no_pt, &info, &cs);
	bool unknown = r == 0 && info.instructions.n > 0;
	if (r == 0 && !a->dry_run && !unknown)
		r = dp_changeset_apply(&cs);
	struct dp_table *t = dp_table_new(setup_columns, sizeof(setup_columns) / sizeof(*setup_columns));
	dp_table_add_row(t);
	dp_table_set_str(t, "iommu", *info.iommu ? info.iommu : NULL);
	dp_table_set_str(t, "loader", *info.loader ? info.loader : NULL);
	strv_cell(t, "wanted", &info.wanted, ctx->json);
	strv_cell(t, "configured", &info.configured, ctx->json);
	strv_cell(t, "active", &info.active, ctx->json);
	dp_table_set_strv(t, "instructions", &info.instructions);
	int code = cli_changeset_report(&cs, t, ctx, a->dry_run, r);
	if (unknown) {
		for (size_t i = 0; i < info.instructions.n && !ctx->json; i++)
			printf("%s\n", info.instructions.v[i]);
		if (!ctx->json)
			printf("After the reboot, 'devpass check' says whether the host is ready.\n");
		code = EXIT_FAILED;   /* nothing was configured: the host is not set up */
	}
	dp_table_free(t);
	dp_changeset_free(&cs);
	dp_setup_info_free(&info);
	return code;
}

static int setup_undo(const struct setup_args *a, const struct cli_ctx *ctx)
{
	struct dp_changeset cs;
	int r = dp_setup_undo_plan(&cs);
	if (r == 0 && !a->dry_run)
		r = dp_changeset_apply(&cs);
	if (r == 0 && !dp_changeset_empty(&cs) && !a->dry_run)
		dp_strv_add(&cs.notes, "reboot for the kernel command line to lose the arguments");
	if (r == 0 && !ctx->json && dp_changeset_empty(&cs) && !cs.ncommands && !cs.kept.n &&
	    !cs.warnings.n) {
		printf("Nothing to undo: no change made by 'devpass setup iommu' is in place.\n");
		dp_changeset_free(&cs);
		return EXIT_OK;
	}
	int code = cli_changeset_report(&cs, NULL, ctx, a->dry_run, r);
	dp_changeset_free(&cs);
	return code;
}

int cmd_setup(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct setup_args a;
	int r = args_parse(argc, argv, &a);
	if (r)
		return r;
	return a.undo ? setup_undo(&a, ctx) : setup_iommu(&a, ctx);
}
