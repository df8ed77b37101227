/* devpass pool — resource pools: devices chosen by rules, claimed by owners.
 * Sub-verbs dispatch through their own table, as the top-level verbs do. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct pool_opts {
	const char *type, *description, *on_release, *by, *pool;
	bool replace;
	char *tags[16];              /* create --tag KEY=VALUE, repeatable */
	size_t ntags;
	char **args;                 /* the positional arguments */
	size_t nargs;
};

static const struct cli_option pool_options[] = {
	{"type", 0, true, 't'}, {"description", 0, true, 'd'}, {"on-release", 0, true, 'r'},
	{"by", 0, true, 'b'}, {"pool", 0, true, 'p'}, {"replace", 0, false, 'R'},
	{"tag", 0, true, 'g'},
};

/* allow: the options this sub-verb takes, from "tdrbpR" */
static int pool_opts_parse(int argc, char **argv, const char *verb, const char *allow,
                           struct pool_opts *o)
{
	struct cli_option opts[sizeof(pool_options) / sizeof(pool_options[0]) + 1];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(pool_options) / sizeof(pool_options[0]); i++)
		if (strchr(allow, pool_options[i].id))
			opts[n++] = pool_options[i];
	opts[n] = (struct cli_option){NULL, 0, false, 0};
	char name[32];
	snprintf(name, sizeof(name), "pool %s", verb);
	memset(o, 0, sizeof(*o));
	struct cli_opts p;
	cli_opts_init(&p, argc, argv, name, opts);
	int c;
	while ((c = cli_opts_next(&p)) > 0) {
		switch (c) {
		case 't': o->type = p.value; break;
		case 'd': o->description = p.value; break;
		case 'r': o->on_release = p.value; break;
		case 'b': o->by = p.value; break;
		case 'p': o->pool = p.value; break;
		case 'R': o->replace = true; break;
		case 'g':
			if (o->ntags == sizeof(o->tags) / sizeof(o->tags[0]))
				return cli_error(EXIT_USAGE, "at most %zu --tag options", o->ntags);
			o->tags[o->ntags++] = (char *)p.value;
			break;
		}
	}
	if (c < 0)
		return p.exit;
	o->args = p.args;
	o->nargs = p.nargs;
	return 0;
}

static int nargs_check(const struct pool_opts *o, const char *verb, size_t min, size_t max,
                       const char *what)
{
	if (o->nargs < min || o->nargs > max)
		return cli_error(EXIT_USAGE, "usage: devpass pool %s %s", verb, what);
	return 0;
}

static int lib_fail(int r)
{
	return cli_lib_error(cli_exit_for(r));
}

/* What a changing sub-verb prints: one line of text, or a JSON object. */
static int done_report(const struct cli_ctx *ctx, struct json_object *o, const char *text)
{
	if (ctx->json)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		                                              JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		printf("%s\n", text);
	json_object_put(o);
	return EXIT_OK;
}

static struct json_object *done_json(const char *pool, const char *what)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "pool", json_object_new_string(pool));
	json_object_object_add(o, what, json_object_new_boolean(1));
	return o;
}

/* ---- create, set, delete ------------------------------------------------------------ */

static int policy_parse(const char *text, enum dp_release_policy *out)
{
	*out = DP_RELEASE_RESTORE;
	return text && dp_release_policy_parse(text, out) < 0 ? cli_lib_error(EXIT_USAGE) : 0;
}

static int pool_create(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	enum dp_pool_type type = DP_POOL_PCI;
	enum dp_release_policy policy;
	char text[256];
	int r = pool_opts_parse(argc, argv, "create", "tdrg", &o);
	if (!r)
		r = nargs_check(&o, "create", 1, 1, "NAME [--type pci|sriov-vf|usb|mdev] "
		                "[--description TEXT] [--on-release restore|keep-vfio|quarantine] "
		                "[--tag KEY=VALUE]...");
	for (size_t i = 0; !r && i < o.ntags; i++)
		if (dp_pool_tag_check(o.tags[i]) < 0)
			r = cli_lib_error(EXIT_USAGE);
	if (!r && o.type && dp_pool_type_parse(o.type, &type) < 0)
		r = cli_lib_error(EXIT_USAGE);
	if (!r)
		r = policy_parse(o.on_release, &policy);
	if (r)
		return r;
	if ((r = dp_pool_create_tagged(o.args[0], type, o.description, policy, o.tags, o.ntags)) < 0)
		return lib_fail(r);
	snprintf(text, sizeof(text), "Created pool '%s' (%s, on release: %s). Next: devpass pool rule "
	         "add %s RULE", o.args[0], dp_pool_type_name(type), dp_release_policy_name(policy),
	         o.args[0]);
	return done_report(ctx, done_json(o.args[0], "created"), text);
}

static int pool_set(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	enum dp_release_policy policy;
	char text[256];
	int r = pool_opts_parse(argc, argv, "set", "dr", &o);
	if (!r)
		r = nargs_check(&o, "set", 1, 1, "NAME [--description TEXT] [--on-release POLICY]");
	if (!r && !o.description && !o.on_release)
		r = cli_error(EXIT_USAGE, "devpass pool set needs --description or --on-release");
	if (!r)
		r = policy_parse(o.on_release, &policy);
	if (r)
		return r;
	if ((r = dp_pool_set(o.args[0], o.description, o.on_release ? &policy : NULL)) < 0)
		return lib_fail(r);
	snprintf(text, sizeof(text), "Updated pool '%s'.", o.args[0]);
	return done_report(ctx, done_json(o.args[0], "updated"), text);
}

static int pool_delete(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	char text[256];
	int r = pool_opts_parse(argc, argv, "delete", "", &o);
	if (!r)
		r = nargs_check(&o, "delete", 1, 1, "NAME");
	if (r)
		return r;
	if ((r = dp_pool_delete(o.args[0])) < 0)
		return lib_fail(r);
	snprintf(text, sizeof(text), "Deleted pool '%s'.", o.args[0]);
	return done_report(ctx, done_json(o.args[0], "deleted"), text);
}

/* ---- rules --------------------------------------------------------------------------- */

/* A rule may come as one argument or as its terms, one per argument. */
static char *rule_text(char **args, size_t n)
{
	struct dp_strv sv = {0};
	for (size_t i = 0; i < n; i++)
		dp_strv_add(&sv, args[i]);
	char *text = dp_strv_join(&sv, " ");
	dp_strv_free(&sv);
	return text;
}

/* An added rule says what it matches by itself: "the pool has N members" counts the
 * other rules' devices too, and a rule that matches nothing is most likely a typo. */
static int rule_report(const struct cli_ctx *ctx, const char *pool, const char *rule, int members,
                       int matches, bool added)
{
	char text[1024];
	struct json_object *o = done_json(pool, added ? "rule_added" : "rule_removed");
	json_object_object_add(o, "rule", json_object_new_string(rule));
	json_object_object_add(o, "members", json_object_new_int(members));
	if (added)
		json_object_object_add(o, "matches", json_object_new_int(matches));
	if (added && matches == 0)
		fprintf(stderr, "devpass: WARNING: the rule %s matches no device of this host that pool "
		        "'%s' can take (devpass list shows the devices)\n", rule, pool);
	if (added)
		snprintf(text, sizeof(text), "Added rule %s to '%s': this rule matches %d device%s; the "
		         "pool has %d member(s) now (devpass pool show %s).", rule, pool, matches,
		         matches == 1 ? "" : "s", members, pool);
	else
		snprintf(text, sizeof(text), "Removed rule %s from '%s'; it has %d member(s) now (devpass "
		         "pool show %s).", rule, pool, members, pool);
	return done_report(ctx, o, text);
}

/* The text of rule N of a pool, when which is a number; NULL otherwise. */
static char *rule_by_number(const char *pool, const char *which)
{
	struct dp_pool_list pools;
	char *text = NULL;
	size_t n = strlen(which);
	if (n == 0 || n > 5 || strspn(which, "0123456789") != n || dp_pools_read(&pools) < 0)
		return NULL;
	unsigned long k = strtoul(which, NULL, 10);
	for (size_t i = 0; i < pools.n; i++)
		if (strcmp(pools.p[i].name, pool) == 0 && k >= 1 && k <= pools.p[i].rules.n)
			text = strdup(pools.p[i].rules.v[k - 1]);
	dp_pool_list_free(&pools);
	return text;
}

static int pool_rule(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	struct dp_pci_list list = {0};
	int r = pool_opts_parse(argc, argv, "rule", "", &o);
	if (!r)
		r = nargs_check(&o, "rule", 3, 64, "add NAME RULE | rm NAME RULE|N");
	bool add = !r && strcmp(o.args[0], "add") == 0;
	if (!r && !add && strcmp(o.args[0], "rm") != 0 && strcmp(o.args[0], "remove") != 0)
		r = cli_error(EXIT_USAGE, "devpass pool rule takes add or rm, not '%s'", o.args[0]);
	if (r || (r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	char *text = rule_text(o.args + 2, o.nargs - 2);
	char *numbered = add ? NULL : rule_by_number(o.args[1], text);
	r = add ? dp_pool_rule_add(o.args[1], text, &list) : dp_pool_rule_remove(o.args[1], text, &list);
	if (numbered) {   /* say which rule went, not its number */
		free(text);
		text = numbered;
	}
	if (r >= 0) {
		struct dp_rule rule;   /* the canonical form, as pool show lists it */
		bool parsed = dp_rule_parse(text, &rule, NULL) == 0;
		int matches = add ? dp_pool_rule_matches(o.args[1], text, &list) : 0;
		r = rule_report(ctx, o.args[1], parsed ? rule.text : text, r, matches < 0 ? -1 : matches, add);
		if (parsed)
			dp_rule_free(&rule);
	} else {
		r = lib_fail(r);
	}
	free(text);
	dp_pci_list_free(&list);
	return r;
}

/* ---- list and show ----------------------------------------------------------------------- */

static const struct dp_column pool_columns[] = {
	{"name", "NAME", DP_COL_TEXT, 0},
	{"type", "TYPE", DP_COL_TEXT, 0},
	{"on_release", "ON-RELEASE", DP_COL_TEXT, 0},
	{"rules", "RULES", 0, 0},
	{"nrules", "RULES", DP_COL_TEXT, 0},
	{"members", "MEMBERS", DP_COL_TEXT, 0},
	{"free", "FREE", DP_COL_TEXT, 0},
	{"claimed", "CLAIMED", DP_COL_TEXT, 0},
	{"quarantined", "QUARANTINED", 0, 0},
	{"changed", "CHANGED", 0, 0},
	{"missing", "MISSING", 0, 0},
	{"conflict", "CONFLICT", 0, 0},
	{"unavailable", "UNAVAILABLE", 0, 0},
	{"other", "OTHER", DP_COL_TEXT, 0},
	{"description", "DESCRIPTION", DP_COL_TEXT | DP_COL_ELLIPSIZE, 40},
};

static void pool_row(struct dp_table *t, const struct dp_pool *p, const struct dp_pool_members *m)
{
	size_t count[DP_MEMBER_UNAVAILABLE + 1] = {0}, total = 0;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->m[i].pool, p->name) == 0) {
			count[m->m[i].state]++;
			total++;
		}
	dp_table_add_row(t);
	dp_table_set_str(t, "name", p->name);
	dp_table_set_str(t, "type", dp_pool_type_name(p->type));
	dp_table_set_str(t, "on_release", dp_release_policy_name(p->on_release));
	dp_table_set_strv(t, "rules", &p->rules);
	dp_table_set_int(t, "nrules", (long long)p->rules.n);
	dp_table_set_int(t, "members", (long long)total);
	for (int s = DP_MEMBER_FREE; s <= DP_MEMBER_UNAVAILABLE; s++)
		dp_table_set_int(t, dp_member_state_name((enum dp_member_state)s), (long long)count[s]);
	dp_table_set_int(t, "other", (long long)(total - count[DP_MEMBER_FREE] - count[DP_MEMBER_CLAIMED]));
	dp_table_set_str(t, "description", *p->description ? p->description : NULL);
}

static void conflicts_print(const struct dp_strv *conflicts)
{
	if (!conflicts->n)
		return;
	printf("\nConflicts: these devices match several pools and are claimable from none of them\n"
	       "until the rules are made exclusive:\n");
	for (size_t i = 0; i < conflicts->n; i++)
		printf("  %s\n", conflicts->v[i]);
}

static int pool_list(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	struct dp_pci_list list = {0};
	struct dp_pool_list pools;
	struct dp_pool_members members;
	int r = pool_opts_parse(argc, argv, "list", "", &o);
	if (!r)
		r = nargs_check(&o, "list", 0, 0, "");
	if (r || (r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	if ((r = dp_pools_read(&pools)) < 0)
		return dp_pci_list_free(&list), lib_fail(r);
	if ((r = dp_pool_members_read(&list, NULL, &members)) < 0) {
		dp_pool_list_free(&pools);
		dp_pci_list_free(&list);
		return lib_fail(r);
	}
	struct dp_table *t = dp_table_new(pool_columns, sizeof(pool_columns) / sizeof(pool_columns[0]));
	for (size_t i = 0; i < pools.n; i++)
		pool_row(t, &pools.p[i], &members);
	if (ctx->json) {
		struct json_object *out = json_object_new_object();
		struct json_object *conflicts = json_object_new_array();
		for (size_t i = 0; i < members.conflicts.n; i++)
			json_object_array_add(conflicts, json_object_new_string(members.conflicts.v[i]));
		json_object_object_add(out, "pools", dp_table_to_json(t));
		json_object_object_add(out, "conflicts", conflicts);
		printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
		                                                JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(out);
	} else if (pools.n == 0) {
		printf("No pools. Create one: devpass pool create NAME, or devpass pool from-device ADDRESS\n");
	} else {
		dp_table_print(t, stdout, false);
		conflicts_print(&members.conflicts);
	}
	dp_table_free(t);
	dp_pool_members_free(&members);
	dp_pool_list_free(&pools);
	dp_pci_list_free(&list);
	return EXIT_OK;
}

static const struct dp_column member_columns[] = {
	{"address", "ADDRESS", DP_COL_TEXT, 0},
	{"state", "STATE", DP_COL_TEXT, 0},
	{"owner", "OWNER", DP_COL_TEXT, 0},
	{"pid", "PID", DP_COL_TEXT, 0},
	{"stale", "STALE", 0, 0},
	{"since", "SINCE", 0, 0},
	{"group", "IOMMU", DP_COL_TEXT, 0},
	{"numa", "NUMA", DP_COL_TEXT, 0},
	{"driver", "DRIVER", DP_COL_TEXT, 0},
	{"id", "ID", 0, 0},
	{"subsystem", "SUBSYSTEM", 0, 0},
	{"class", "CLASS", 0, 0},
	{"physfn", "PF", 0, 0},
	{"description", "DESCRIPTION", DP_COL_TEXT | DP_COL_ELLIPSIZE, 40},
	{"reason", "WHY", DP_COL_TEXT, 0},
};

static void member_row(struct dp_table *t, const struct dp_pool_member *m)
{
	dp_table_add_row(t);
	dp_table_set_str(t, "address", m->address);
	dp_table_set_str(t, "state", dp_member_state_name(m->state));
	dp_table_set_str(t, "owner", m->owner[0] ? m->owner : NULL);
	if (m->pid > 0)
		dp_table_set_int(t, "pid", m->pid);
	else
		dp_table_set_null(t, "pid");
	dp_table_set_bool(t, "stale", m->stale);
	dp_table_set_int(t, "since", m->since);
	if (m->group >= 0)
		dp_table_set_int(t, "group", m->group);
	else
		dp_table_set_null(t, "group");
	if (m->numa >= 0)
		dp_table_set_int(t, "numa", m->numa);
	else
		dp_table_set_null(t, "numa");
	dp_table_set_str(t, "driver", m->dev && m->dev->driver[0] ? m->dev->driver : NULL);
	dp_table_set_strf(t, "id", "%04x:%04x", m->vendor, m->device);
	dp_table_set_strf(t, "subsystem", "%04x:%04x", m->subsys_vendor, m->subsys_device);
	dp_table_set_strf(t, "class", "%06x", m->class_code);
	dp_table_set_str(t, "physfn", m->physfn[0] ? m->physfn : NULL);
	dp_table_set_str(t, "description", m->dev ? m->dev->description : m->label);
	dp_table_set_str(t, "reason", m->reason);
}

static const struct dp_column show_columns[] = {
	{"name", "Pool", DP_COL_TEXT, 0},
	{"type", "Type", DP_COL_TEXT, 0},
	{"description", "Description", DP_COL_TEXT, 0},
	{"on_release", "On release", DP_COL_TEXT, 0},
	{"rules", "Rules", DP_COL_TEXT, 0},
	{"members", "Members", 0, 0},
};

/* The record's columns, with Tags after On release for a pool that has tags (a pool
 * without shows what it always showed). */
static struct dp_table *show_table(const struct dp_strv *tags)
{
	static const struct dp_column tagged[] = {   /* the table keeps the array: static */
		{"name", "Pool", DP_COL_TEXT, 0},
		{"type", "Type", DP_COL_TEXT, 0},
		{"description", "Description", DP_COL_TEXT, 0},
		{"on_release", "On release", DP_COL_TEXT, 0},
		{"tags", "Tags", DP_COL_TEXT, 0},
		{"rules", "Rules", DP_COL_TEXT, 0},
		{"members", "Members", 0, 0},
	};
	if (tags->n)
		return dp_table_new(tagged, sizeof(tagged) / sizeof(tagged[0]));
	return dp_table_new(show_columns, sizeof(show_columns) / sizeof(show_columns[0]));
}

static int show_print(const struct dp_pool *p, const struct dp_pool_members *m, const struct cli_ctx *ctx)
{
	struct dp_strv tags = {0};
	if (dp_pool_tags_read(p->name, &tags) < 0)
		return lib_fail(-EIO);
	struct dp_table *rec = show_table(&tags);
	struct dp_table *t = dp_table_new(member_columns, sizeof(member_columns) / sizeof(member_columns[0]));
	struct dp_strv rules = {0};
	for (size_t i = 0; i < p->rules.n; i++)
		if (ctx->json)
			dp_strv_add(&rules, p->rules.v[i]);
		else   /* numbered: `pool rule rm NAME N` takes the number */
			dp_strv_addf(&rules, "%zu: %s", i + 1, p->rules.v[i]);
	/* one rule a line: rules hold commas themselves (vendor=10de,15b3) */
	char *rules_text = ctx->json ? NULL : dp_strv_join(&rules, "\n       ");   /* under "Rules: " */
	for (size_t i = 0; i < m->n; i++)
		member_row(t, &m->m[i]);
	dp_table_add_row(rec);
	dp_table_set_str(rec, "name", p->name);
	dp_table_set_str(rec, "type", dp_pool_type_name(p->type));
	dp_table_set_str(rec, "description", *p->description ? p->description : NULL);
	dp_table_set_str(rec, "on_release", dp_release_policy_name(p->on_release));
	if (tags.n)
		dp_table_set_strv(rec, "tags", &tags);
	dp_strv_free(&tags);
	if (ctx->json)
		dp_table_set_strv(rec, "rules", &rules);
	else
		dp_table_set_str(rec, "rules", rules.n ? rules_text : NULL);
	dp_table_set_json(rec, "members", dp_table_to_json(t));
	dp_table_print_record(rec, stdout, ctx->json);
	if (!ctx->json) {
		printf("\n");
		if (m->n)
			dp_table_print(t, stdout, false);
		else
			printf("No members: no device matches the rules (devpass list shows the devices).\n");
	}
	dp_strv_free(&rules);
	free(rules_text);
	dp_table_free(t);
	dp_table_free(rec);
	return EXIT_OK;
}

static int pool_show(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	struct dp_pci_list list = {0};
	struct dp_pool_list pools;
	struct dp_pool_members members;
	int r = pool_opts_parse(argc, argv, "show", "", &o);
	if (!r)
		r = nargs_check(&o, "show", 1, 1, "NAME");
	if (r || (r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	if ((r = dp_pools_read(&pools)) < 0)
		return dp_pci_list_free(&list), lib_fail(r);
	if ((r = dp_pool_members_read(&list, o.args[0], &members)) < 0) {
		dp_pool_list_free(&pools);
		dp_pci_list_free(&list);
		return lib_fail(r);
	}
	for (size_t i = 0; i < pools.n; i++)
		if (strcmp(pools.p[i].name, o.args[0]) == 0)
			r = show_print(&pools.p[i], &members, ctx);
	dp_pool_members_free(&members);
	dp_pool_list_free(&pools);
	dp_pci_list_free(&list);
	return r;
}

/* ---- from-device ---------------------------------------------------------------------------- */

static bool pool_exists(const char *name)
{
	struct dp_pool_list pools;
	bool found = false;
	if (dp_pools_read(&pools) < 0)
		return false;
	for (size_t i = 0; i < pools.n; i++)
		found |= strcmp(pools.p[i].name, name) == 0;
	dp_pool_list_free(&pools);
	return found;
}

/* A pci pool never takes VFs, an sriov-vf pool nothing else: a rule for the wrong kind
 * would match nothing, ever. */
static int pool_type_fits(const struct dp_pci_device *dev, const char *name, bool is_vf)
{
	struct dp_pool_list pools;
	int r = 0;
	if (dp_pools_read(&pools) < 0)
		return lib_fail(-EIO);
	for (size_t i = 0; i < pools.n && r == 0; i++) {
		const struct dp_pool *p = &pools.p[i];
		if (strcmp(p->name, name) != 0 || (p->type == DP_POOL_SRIOV_VF) == is_vf)
			continue;
		r = cli_error(EXIT_FAILED, "%s is %s, and '%s' is a %s pool, which takes %s: choose "
		              "a %s pool (or leave --pool out for one of the right type)", dev->address,
		              is_vf ? "an SR-IOV VF" : "not an SR-IOV VF", name, dp_pool_type_name(p->type),
		              p->type == DP_POOL_PCI ? "no VFs" : p->type == DP_POOL_SRIOV_VF ? "only VFs"
		                                     : "no PCI functions",
		              is_vf ? "sriov-vf" : "pci");
	}
	dp_pool_list_free(&pools);
	return r;
}

/* A new pool takes the device's kind: VFs go to an sriov-vf pool. */
static int from_device_pool(const struct dp_pci_device *dev, const struct pool_opts *o,
                            const char *name, bool *created)
{
	struct dp_pci_identity id;
	enum dp_pool_type type;
	enum dp_release_policy policy;
	*created = false;
	dp_pci_identity_read(dev, &id);
	if (pool_exists(name))
		return pool_type_fits(dev, name, id.physfn[0] != '\0');
	type = id.physfn[0] ? DP_POOL_SRIOV_VF : DP_POOL_PCI;
	if (o->type && dp_pool_type_parse(o->type, &type) < 0)
		return cli_lib_error(EXIT_USAGE);
	int r = policy_parse(o->on_release, &policy);
	if (r)
		return r;
	if ((r = dp_pool_create(name, type, o->description ? o->description : dev->description,
	                        policy)) < 0)
		return lib_fail(r);
	*created = true;
	return 0;
}

static int pool_from_device(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	struct dp_pci_list list = {0};
	struct dp_pci_device *dev;
	char name[DP_POOL_NAME_MAX + 1], *rule = NULL, text[768];
	bool created = false;
	int r = pool_opts_parse(argc, argv, "from-device", "bptdr", &o);
	if (!r)
		r = nargs_check(&o, "from-device", 1, 1, "ADDRESS [--by id|address|serial] [--pool NAME]");
	if (r || (r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	if ((r = dp_pci_device_lookup(&list, o.args[0], &dev)) < 0 ||
	    (r = dp_pool_rule_for_device(dev, o.by, &rule)) < 0) {
		dp_pci_list_free(&list);
		return lib_fail(r);
	}
	if (dp_pci_device_base_class(dev) == 0x06) {   /* pools never take bridges */
		r = cli_error(EXIT_FAILED, "%s is a bridge: bridges cannot be passed through; choose "
		              "an endpoint below it (devpass list --tree shows them)", dev->address);
		free(rule);
		dp_pci_list_free(&list);
		return r;
	}
	snprintf(name, sizeof(name), "%s", o.pool ? o.pool : "");
	if (!o.pool) {   /* identical devices share a pool named after their ids */
		struct dp_pci_identity id;
		dp_pci_identity_read(dev, &id);
		snprintf(name, sizeof(name), "%s-%04x-%04x", id.physfn[0] ? "vf" : "pci", dev->vendor,
		         dev->device);
	}
	if (dev->critical.n)
		fprintf(stderr, "devpass: WARNING: %s is host-critical (%s): it stays unavailable in the "
		        "pool\n", dev->address, dev->critical.v[0]);
	r = from_device_pool(dev, &o, name, &created);
	int members = r ? 0 : dp_pool_rule_add(name, rule, &list);
	bool had = !r && members == -EEXIST;   /* nothing to add: not a failure */
	if (!r && members < 0 && !had)
		r = lib_fail(members);
	if (!r) {
		struct json_object *j = done_json(name, "ok");
		json_object_object_add(j, "created", json_object_new_boolean(created));
		json_object_object_add(j, "rule", json_object_new_string(rule));
		json_object_object_add(j, "rule_added", json_object_new_boolean(!had));
		if (had)
			snprintf(text, sizeof(text), "Pool '%s' has the rule %s already (devpass pool show %s).",
			         name, rule, name);
		else
			snprintf(text, sizeof(text), "%s pool '%s' with rule %s (devpass pool show %s).",
			         created ? "Created" : "Extended", name, rule, name);
		r = done_report(ctx, j, text);
	}
	free(rule);
	dp_pci_list_free(&list);
	return r;
}

/* ---- export / import of the definitions -------------------------------------------------------- */

static int pool_export(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	struct json_object *out;
	int r = pool_opts_parse(argc, argv, "export", "", &o);
	if (!r)
		r = nargs_check(&o, "export", 0, 0, "");
	if (r)
		return r;
	if ((r = dp_pools_export(&out)) < 0)
		return lib_fail(r);
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
	                                                JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(out);
	return EXIT_OK;
}

/* The file named on the command line is the user's, not the host's: read as given. */
/* "line L, column C" of byte offset in text, for the parse errors */
static void position_text(const char *text, size_t offset, char *out, size_t size)
{
	size_t line = 1, column = 1;
	for (size_t i = 0; i < offset && text[i]; i++, column++)
		if (text[i] == '\n') {
			line++;
			column = 0;
		}
	snprintf(out, size, "line %zu, column %zu", line, column);
}

static struct json_object *import_read(const char *file, bool *unreadable)
{
	bool from_stdin = strcmp(file, "-") == 0;
	const char *path = from_stdin ? "standard input" : file;
	FILE *f = from_stdin ? stdin : fopen(file, "r");
	if (!f) {
		*unreadable = true;
		cli_error(EXIT_FAILED, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	char *text = NULL;
	size_t len = 0, n;
	char buf[4096];
	FILE *mem = open_memstream(&text, &len);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	fclose(mem);
	if (f != stdin)
		fclose(f);
	/* the whole file is one JSON document: nothing missing, nothing after it */
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	while (used < len && strchr(" \t\r\n", text[used]))
		used++;
	if (err == json_tokener_continue || len == 0)
		cli_error(EXIT_USAGE, "%s is not a devpass pool export: it ends before the JSON does", path);
	else if (err != json_tokener_success) {
		char where[64];
		position_text(text, json_tokener_get_parse_end(tok), where, sizeof(where));
		cli_error(EXIT_USAGE, "%s is not JSON (%s): %s", path, where, json_tokener_error_desc(err));
	}
	else if (used < len) {
		char where[64];
		position_text(text, used, where, sizeof(where));
		cli_error(EXIT_USAGE, "%s has more after its JSON document (%s)", path, where);
	}
	if (err != json_tokener_success || used < len) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	free(text);
	return obj;
}

static int pool_import(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	struct dp_pci_list list = {0};
	int r = pool_opts_parse(argc, argv, "import", "R", &o);
	if (!r)
		r = nargs_check(&o, "import", 1, 1, "FILE|- [--replace]");
	if (r)
		return r;
	bool unreadable = false;
	struct json_object *in = import_read(o.args[0], &unreadable);
	if (!in)
		return unreadable ? EXIT_FAILED : EXIT_USAGE;
	if ((r = cli_inventory_load(&list, DP_SCAN_NAMES)) == 0) {
		r = dp_pools_import(in, o.replace, &list);
		struct json_object *pools = NULL;
		char text[128];
		json_object_object_get_ex(in, "pools", &pools);
		size_t n = json_object_is_type(pools, json_type_array) ? json_object_array_length(pools) : 0;
		snprintf(text, sizeof(text), "Imported %zu pool%s (devpass pool list).", n, n == 1 ? "" : "s");
		r = r < 0 ? lib_fail(r) : done_report(ctx, done_json("*", "imported"), text);
	}
	json_object_put(in);
	dp_pci_list_free(&list);
	return r;
}

/* ---- quarantine and stale claims ---------------------------------------------------------------- */

static int pool_clear(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	char text[256];
	int r = pool_opts_parse(argc, argv, "clear", "", &o);
	if (!r)
		r = nargs_check(&o, "clear", 1, 1, "ADDRESS");
	if (r)
		return r;
	if ((r = dp_pool_clear(o.args[0])) < 0)
		return lib_fail(r);
	snprintf(text, sizeof(text), "%s is claimable again (it stays on vfio-pci; devpass restore %s "
	         "gives it back to its driver).", o.args[0], o.args[0]);
	struct json_object *j = json_object_new_object();
	json_object_object_add(j, "address", json_object_new_string(o.args[0]));
	json_object_object_add(j, "cleared", json_object_new_boolean(1));
	return done_report(ctx, j, text);
}

static int pool_gc(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct pool_opts o;
	struct dp_pci_list list = {0};
	struct dp_claim_list released;
	int r = pool_opts_parse(argc, argv, "gc", "", &o);
	if (!r)
		r = nargs_check(&o, "gc", 0, 0, "");
	if (r || (r = cli_inventory_load(&list, 0)))
		return r;
	r = dp_pool_gc(&list, 10000, &released);
	r = cli_claims_report(&released, ctx, true, r);
	if (r == EXIT_OK && released.n == 0 && !ctx->json)
		printf("No stale claims.\n");
	dp_claim_list_free(&released);
	dp_pci_list_free(&list);
	return r;
}

/* ---- dispatch ------------------------------------------------------------------------------------- */

static const struct cli_verb pool_verbs[] = {
	{"create", pool_create, NULL, NULL},
	{"set", pool_set, NULL, NULL},
	{"delete", pool_delete, NULL, NULL},
	{"list", pool_list, NULL, NULL},
	{"show", pool_show, NULL, NULL},
	{"rule", pool_rule, NULL, NULL},
	{"from-device", pool_from_device, NULL, NULL},
	{"export", pool_export, NULL, NULL},
	{"import", pool_import, NULL, NULL},
	{"clear", pool_clear, NULL, NULL},
	{"gc", pool_gc, NULL, NULL},
};

int cmd_pool(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const char names[] = "create, set, delete, list, show, rule, from-device, export, "
	                            "import, clear or gc";
	if (argc >= 2 && argv[1][0] == '-') {   /* pool --help; or an option before the sub-command */
		struct cli_opts p;
		int r = cli_opts_none(2, argv, "pool", 0, 0, &p);
		if (r)
			return r;
	}
	if (argc < 2 || argv[1][0] == '-')
		return cli_error(EXIT_USAGE, "devpass pool needs a sub-command first: %s (devpass pool "
		                 "--help)", names);
	for (size_t i = 0; i < sizeof(pool_verbs) / sizeof(pool_verbs[0]); i++)
		if (strcmp(pool_verbs[i].name, argv[1]) == 0)
			return pool_verbs[i].run(argc - 1, argv + 1, ctx);
	for (size_t i = 0; i < sizeof(pool_verbs) / sizeof(pool_verbs[0]); i++)
		if (cli_is_near_miss(argv[1], pool_verbs[i].name))
			return cli_error(EXIT_USAGE, "unknown pool sub-command '%.100s' (did you mean %s?)",
			                 argv[1], pool_verbs[i].name);
	return cli_error(EXIT_USAGE, "unknown pool sub-command '%.100s': %s (devpass pool --help)",
	                 argv[1], names);
}
