/* devpass persist — bindings and VF counts that survive reboots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct dp_column rule_columns[] = {
	{"rule", "RULE", DP_COL_TEXT, 0},
	{"match", "BY", DP_COL_TEXT, 0},
	{"key", "KEY", DP_COL_TEXT, 0},
	{"driver", "DRIVER", DP_COL_TEXT, 0},
	{"sriov_numvfs", "VFS", DP_COL_TEXT, 0},
	{"devices", "PRESENT", DP_COL_TEXT, 0},
	{"state", "STATE", DP_COL_TEXT, 0},
};

enum persist_mode { MODE_ADD, MODE_IDS, MODE_LIST, MODE_REMOVE, MODE_APPLY, MODE_MATCH };

struct persist_args {
	enum persist_mode mode;
	struct dp_persist_options opts;
	bool dry_run, all, ids;
	char **addrs;
	size_t naddrs;
	void *owned;                 /* the canonical addresses' block */
};

static int mode_set(struct persist_args *a, enum persist_mode m, int seen)
{
	if (seen && a->mode != m && !(a->mode == MODE_REMOVE && m == MODE_IDS) &&
	    !(a->mode == MODE_IDS && m == MODE_REMOVE))
		return cli_error(EXIT_USAGE, "--ids, --list, --remove, --apply and --match do not combine "
		                 "(except --remove --ids)");
	if ((a->mode == MODE_REMOVE && m == MODE_IDS) || (a->mode == MODE_IDS && m == MODE_REMOVE)) {
		a->mode = MODE_REMOVE;
		a->ids = true;
	} else
		a->mode = m;
	return 0;
}

static int vfs_parse(const char *text, int *out)
{
	char *end;
	long n = strtol(text, &end, 10);
	if (*end || end == text || n < 0 || n > 65535)
		return cli_error(EXIT_USAGE, "--vfs takes a VF count, 0..65535");
	*out = (int)n;
	return 0;
}

/* The addresses in their full form (0000:07:00.0), so every message names a device the
 * same way: one block, the pointers first, freed by cmd_persist. */
static int addrs_canonical(struct persist_args *a)
{
	if (!a->naddrs)
		return 0;
	char **canon = calloc(a->naddrs, sizeof(char *) + DP_ADDR_LEN);
	if (!canon)
		return cli_error(EXIT_FAILED, "out of memory");
	char *text = (char *)(canon + a->naddrs);
	for (size_t i = 0; i < a->naddrs; i++) {
		struct dp_pci_addr addr;
		if (dp_pci_addr_parse(a->addrs[i], &addr) < 0) {
			free(canon);
			return cli_lib_error(EXIT_USAGE);
		}
		canon[i] = text + i * DP_ADDR_LEN;
		dp_pci_addr_format(&addr, canon[i]);
	}
	a->addrs = canon;
	a->owned = canon;
	return 0;
}

static int args_check(struct persist_args *a)
{
	int r = addrs_canonical(a);
	if (r)
		return r;
	bool want_addrs = a->mode == MODE_ADD || a->mode == MODE_IDS || a->mode == MODE_APPLY ||
	                  a->mode == MODE_MATCH || (a->mode == MODE_REMOVE && !a->all && !a->ids);
	if (want_addrs && !a->naddrs)
		return cli_error(EXIT_USAGE, "devpass persist needs an address (see 'devpass persist --help')");
	if ((a->mode == MODE_LIST || a->all || (a->mode == MODE_REMOVE && a->ids)) && a->naddrs)
		return cli_error(EXIT_USAGE, "unexpected address '%s' with this option", a->addrs[0]);
	if ((a->mode == MODE_APPLY || a->mode == MODE_MATCH) && a->naddrs != 1)
		return cli_error(EXIT_USAGE, "--apply and --match take one address");
	if (a->all && a->mode != MODE_REMOVE)
		return cli_error(EXIT_USAGE, "--all goes with --remove");
	return 0;
}

static int args_parse(int argc, char **argv, struct persist_args *a)
{
	static const struct cli_option opts[] = {
		{"driver", 0, true, 'd'}, {"by", 0, true, 'b'}, {"vfs", 0, true, 'v'},
		{"force", 0, false, 'f'}, {"dry-run", 0, false, 'n'}, {"ids", 0, false, 'i'},
		{"list", 0, false, 'l'}, {"remove", 0, false, 'r'}, {"all", 0, false, 'a'},
		{"apply", 0, false, 'A'}, {"match", 0, false, 'M'}, {NULL, 0, false, 0}};
	struct cli_opts p;
	memset(a, 0, sizeof(*a));
	a->opts.vfs = -1;
	cli_opts_init(&p, argc, argv, "persist", opts);
	int c, r = 0, modes = 0;
	while (r == 0 && (c = cli_opts_next(&p)) > 0) {
		switch (c) {
		case 'd': a->opts.driver = p.value; break;
		case 'b':
			if (dp_persist_key_parse(p.value, &a->opts.key) < 0)
				return cli_lib_error(EXIT_USAGE);
			break;
		case 'v': r = vfs_parse(p.value, &a->opts.vfs); break;
		case 'f': a->opts.force = true; break;
		case 'n': a->dry_run = true; break;
		case 'a': a->all = true; break;
		case 'i': r = mode_set(a, MODE_IDS, modes++); break;
		case 'l': r = mode_set(a, MODE_LIST, modes++); break;
		case 'r': r = mode_set(a, MODE_REMOVE, modes++); break;
		case 'A': r = mode_set(a, MODE_APPLY, modes++); break;
		case 'M': r = mode_set(a, MODE_MATCH, modes++); break;
		}
	}
	if (r)
		return r;
	if (c < 0)
		return p.exit;
	if (a->opts.vfs >= 0 && a->opts.driver)
		return cli_error(EXIT_USAGE, "--vfs persists a VF count, --driver a binding: one at a time");
	a->addrs = p.args;
	a->naddrs = p.nargs;
	return args_check(a);
}

/* The present devices a foreign entry takes: its ids, or driverctl's address. */
static void foreign_devices(const struct dp_foreign_config *f, const struct dp_pci_list *list,
                            struct dp_strv *out)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *d = &list->dev[i];
		char id[16];
		snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
		bool hit = strcmp(f->kind, "driverctl") == 0 ? strcmp(f->key, d->address) == 0
		                                             : strstr(f->key, id) != NULL;
		if (hit)
			dp_strv_add(out, d->address);
	}
}

/* vfio-pci set up by hand or by driverctl acts at boot as devpass's rules do: listed with
 * them, state "foreign", so that nobody sets a device up twice. */
static size_t foreign_rows(struct dp_table *t, const struct dp_pci_list *list, bool json)
{
	struct dp_foreign_list foreign;
	dp_foreign_config_read(&foreign);
	for (size_t i = 0; i < foreign.n; i++) {
		const struct dp_foreign_config *f = &foreign.f[i];
		struct dp_strv devices = {0};
		foreign_devices(f, list, &devices);
		dp_table_add_row(t);
		dp_table_set_str(t, "rule", f->source);
		dp_table_set_str(t, "match", f->kind);
		dp_table_set_str(t, "key", f->key);
		dp_table_set_str(t, "driver", f->driver);
		dp_table_set_null(t, "sriov_numvfs");
		if (json || devices.n)
			dp_table_set_strv(t, "devices", &devices);
		else
			dp_table_set_str(t, "devices", "-");
		dp_table_set_str(t, "state", "foreign");
		dp_strv_free(&devices);
	}
	size_t n = foreign.n;
	dp_foreign_list_free(&foreign);
	return n;
}

static int list_rules(const struct cli_ctx *ctx)
{
	struct dp_persist_rules rules;
	struct dp_pci_list list = {0};
	if (dp_persist_rules_read(&rules) < 0)
		return cli_lib_error(EXIT_FAILED);
	if (dp_pci_scan_flags(&list, 0) < 0) {
		dp_persist_rules_free(&rules);
		return cli_lib_error(EXIT_FAILED);
	}
	for (size_t i = 0; i < rules.invalid.n; i++)
		fprintf(stderr, "devpass: skipped %s\n", rules.invalid.v[i]);
	struct dp_table *t = dp_table_new(rule_columns, sizeof(rule_columns) / sizeof(*rule_columns));
	for (size_t i = 0; i < rules.n; i++) {
		const struct dp_persist_rule *r = &rules.r[i];
		struct dp_strv devices = {0};
		char key[128];
		enum dp_persist_state st = dp_persist_rule_state(r, &list, &devices);
		dp_persist_rule_describe(r, key, sizeof(key));
		dp_table_add_row(t);
		dp_table_set_str(t, "rule", r->name);
		dp_table_set_str(t, "match", dp_persist_key_name(r->key));
		dp_table_set_str(t, "key", key);
		dp_table_set_str(t, "driver", *r->driver ? r->driver : NULL);
		if (r->sriov_numvfs >= 0)
			dp_table_set_int(t, "sriov_numvfs", r->sriov_numvfs);
		else
			dp_table_set_null(t, "sriov_numvfs");
		if (ctx->json || devices.n)
			dp_table_set_strv(t, "devices", &devices);
		else
			dp_table_set_str(t, "devices", "-");
		dp_table_set_str(t, "state", dp_persist_state_name(st));
		dp_strv_free(&devices);
	}
	size_t foreign = foreign_rows(t, &list, ctx->json);
	if (!ctx->json && !rules.n && !foreign)
		printf("No persisted rules ('devpass persist ADDRESS' adds one).\n");
	else
		dp_table_print(t, stdout, ctx->json);
	dp_table_free(t);
	dp_pci_list_free(&list);
	dp_persist_rules_free(&rules);
	return EXIT_OK;
}

/* The boot path: one line for the journal, never a usage error for a missing device. */
static int apply_one(const struct persist_args *a)
{
	char msg[512];
	if (dp_persist_apply(a->addrs[0], msg, sizeof(msg)) < 0)
		return cli_lib_error(EXIT_FAILED);
	printf("devpass: %s\n", msg);
	return EXIT_OK;
}

static int match_one(const struct persist_args *a)
{
	char driver[64];
	if (dp_persist_match(a->addrs[0], driver, sizeof(driver)) < 0)
		return cli_lib_error(EXIT_FAILED);
	if (*driver)
		printf("DEVPASS_DRIVER=%s\n", driver);
	return EXIT_OK;
}

static int plan_for(const struct persist_args *a, const struct dp_pci_list *list, struct dp_changeset *cs)
{
	switch (a->mode) {
	case MODE_ADD:
		return dp_persist_plan(list, a->addrs, a->naddrs, &a->opts, cs);
	case MODE_IDS:
		return dp_persist_ids_plan(list, a->addrs, a->naddrs, a->opts.force, cs);
	default:
		if (a->ids)
			return dp_persist_ids_remove_plan(cs);
		return dp_persist_remove_plan(list, a->addrs, a->naddrs, a->all, cs);
	}
}

static int change(const struct persist_args *a, const struct cli_ctx *ctx)
{
	struct dp_pci_list list = {0};
	struct dp_changeset cs;
	dp_changeset_init(&cs, "persist");
	int r = cli_inventory_load(&list, DP_SCAN_NAMES);
	if (r)
		return r;
	r = plan_for(a, &list, &cs);
	if (r == 0 && !a->dry_run)
		r = dp_changeset_apply(&cs);
	int code = cli_changeset_report(&cs, NULL, ctx, a->dry_run, r);
	dp_changeset_free(&cs);
	dp_pci_list_free(&list);
	return code;
}

int cmd_persist(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct persist_args a;
	int r = args_parse(argc, argv, &a);
	if (r == 0) {
		switch (a.mode) {
		case MODE_LIST: r = list_rules(ctx); break;
		case MODE_APPLY: r = apply_one(&a); break;
		case MODE_MATCH: r = match_one(&a); break;
		default: r = change(&a, ctx); break;
		}
	}
	free(a.owned);
	return r;
}
