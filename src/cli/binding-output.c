/* Options and output shared by the verbs that change bindings. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct dp_column step_columns[] = {
	{"address", "ADDRESS", DP_COL_TEXT, 0},
	{"group", "GROUP", DP_COL_TEXT, 0},
	{"from", "FROM", DP_COL_TEXT, 0},
	{"to", "TO", DP_COL_TEXT, 0},
	{"action", "ACTION", DP_COL_TEXT, 0},
	{"result", "RESULT", DP_COL_TEXT, 0},
	{"requested", "REQUESTED", 0, 0},
};

static const struct dp_column report_columns[] = {
	{"ok", "OK", 0, 0},
	{"dry_run", "DRY RUN", 0, 0},
	{"error", "ERROR", 0, 0},
	{"warnings", "WARNINGS", 0, 0},
	{"steps", "STEPS", 0, 0},
	{"reset_methods", "RESET METHODS", 0, 0},
};

int cli_exit_for(int error)
{
	return error == -EINVAL ? EXIT_USAGE : error ? EXIT_FAILED : EXIT_OK;
}

/* USER[:GROUP], by name from the root's etc/passwd and etc/group, or numeric */
static int owner_parse(const char *text, struct dp_bind_options *o)
{
	char user[64] = "", group[64] = "";
	if (sscanf(text, "%63[^:]:%63s", user, group) < 1)
		return dp_error_set(-EINVAL, "'%s' is not USER[:GROUP]", text);
	int r = dp_account_lookup(user, group[0] ? group : NULL, &o->owner_uid, &o->owner_gid);
	o->set_owner = r == 0;
	return r;
}

/* the options of the binding verbs; allow picks this verb's from the first four */
static const struct cli_option bind_options[] = {
	{"driver", 0, true, 'd'}, {"force", 0, false, 'f'}, {"owner", 0, true, 'o'},
	{"all", 0, false, 'a'}, {"dry-run", 0, false, 'n'}, {"timeout", 0, true, 't'},
};

int cli_bind_args_parse(int argc, char **argv, const char *verb, const char *allow,
                        struct cli_bind_args *out)
{
	struct cli_option opts[sizeof(bind_options) / sizeof(bind_options[0]) + 1];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(bind_options) / sizeof(bind_options[0]); i++)
		if (strchr(allow, bind_options[i].id) || bind_options[i].id == 'n' || bind_options[i].id == 't')
			opts[n++] = bind_options[i];
	opts[n] = (struct cli_option){NULL, 0, false, 0};
	memset(out, 0, sizeof(*out));
	out->opts.timeout_ms = 10000;
	struct cli_opts p;
	cli_opts_init(&p, argc, argv, verb, opts);
	const char *owner = NULL;
	int c;
	while ((c = cli_opts_next(&p)) > 0) {
		switch (c) {
		case 'd': out->opts.driver = p.value; break;
		case 'f': out->opts.force = true; break;
		case 'a': out->all = true; break;
		case 'n': out->opts.dry_run = true; break;
		case 'o': owner = p.value; break;
		case 't':
			if (cli_timeout_parse(p.value, &out->opts.timeout_ms))
				return EXIT_USAGE;
			break;
		}
	}
	if (c < 0)
		return p.exit;
	/* after the loop: the accounts are read under the root, in effect only now */
	if (owner && owner_parse(owner, &out->opts) < 0)
		return cli_lib_error(EXIT_USAGE);
	out->addrs = p.args;
	out->naddrs = p.nargs;
	for (size_t i = 0; i < out->naddrs; i++) {
		struct dp_pci_addr a;
		if (dp_pci_addr_parse(out->addrs[i], &a) < 0)
			return cli_lib_error(EXIT_USAGE);
	}
	if (!out->naddrs && !out->all)
		return cli_error(EXIT_USAGE, "devpass %s needs at least one address%s (see 'devpass %s --help')",
		                 verb, strchr(allow, 'a') ? " or --all" : "", verb);
	if (out->naddrs && out->all)
		return cli_error(EXIT_USAGE, "give addresses or --all, not both");
	return 0;
}

static void steps_fill(struct dp_table *t, const struct dp_bind_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct dp_bind_step *s = &plan->steps[i];
		dp_table_add_row(t);
		dp_table_set_str(t, "address", s->address);
		if (s->group >= 0)
			dp_table_set_int(t, "group", s->group);
		dp_table_set_str(t, "from", *s->from ? s->from : NULL);
		dp_table_set_str(t, "to", *s->to ? s->to : NULL);
		dp_table_set_str(t, "action", dp_step_action_name(s->action));
		dp_table_set_str(t, "result", dp_step_result_name(s->result));
		dp_table_set_bool(t, "requested", s->requested);
	}
}

int cli_plan_report(const struct dp_bind_plan *plan, const struct cli_ctx *ctx, bool dry_run,
                    int error)
{
	return cli_reset_report(plan, ctx, dry_run, error, NULL);
}

int cli_reset_report(const struct dp_bind_plan *plan, const struct cli_ctx *ctx, bool dry_run,
                     int error, const char *methods)
{
	struct dp_table *steps = dp_table_new(step_columns, sizeof(step_columns) / sizeof(step_columns[0]));
	steps_fill(steps, plan);
	if (ctx->json) {
		struct dp_table *rep = dp_table_new(report_columns, sizeof(report_columns) / sizeof(report_columns[0]));
		dp_table_add_row(rep);
		dp_table_set_bool(rep, "ok", error == 0);
		dp_table_set_bool(rep, "dry_run", dry_run);
		char error_text[2048];
		dp_table_set_str(rep, "error", error ? cli_error_text(error_text, sizeof(error_text)) : NULL);
		dp_table_set_strv(rep, "warnings", &plan->warnings);
		dp_table_set_json(rep, "steps", dp_table_to_json(steps));
		dp_table_set_str(rep, "reset_methods", methods);
		dp_table_print_record(rep, stdout, true);
		dp_table_free(rep);
	} else if (plan->n) {
		dp_table_print(steps, stdout, false);
		if (methods)
			printf("Reset methods: %s\n", methods);
	}
	for (size_t i = 0; i < plan->warnings.n; i++)
		fprintf(stderr, "devpass: %s\n", plan->warnings.v[i]);
	if (!ctx->json && dry_run && !error)
		printf("(dry run: nothing was changed)\n");
	dp_table_free(steps);
	if (error)
		cli_lib_error(EXIT_FAILED);
	return cli_exit_for(error);
}
