/* devpass mdev — mediated devices (and NVIDIA vGPU): types, devices, definitions. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "cli.h"

#define MDEV_REMOVE_TIMEOUT_MS 10000   /* the kernel pings the VFIO user every 10 s */

struct mdev_opts {
	const char *uuid, *timeout;
	bool auto_start, undefine;
	char **args;
	size_t nargs;
};

static const struct cli_option mdev_options[] = {
	{"uuid", 0, true, 'u'}, {"auto", 0, false, 'a'}, {"undefine", 0, false, 'U'},
	{"timeout", 0, true, 't'},
};

/* allow: the options this sub-verb takes, from "uaUt"; then the argument count */
static int mdev_opts_parse(int argc, char **argv, const char *verb, const char *allow,
                           size_t min, size_t max, const char *what, struct mdev_opts *o)
{
	struct cli_option opts[sizeof(mdev_options) / sizeof(mdev_options[0]) + 1];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(mdev_options) / sizeof(mdev_options[0]); i++)
		if (strchr(allow, mdev_options[i].id))
			opts[n++] = mdev_options[i];
	opts[n] = (struct cli_option){NULL, 0, false, 0};
	char name[32];
	snprintf(name, sizeof(name), "mdev %s", verb);
	memset(o, 0, sizeof(*o));
	struct cli_opts p;
	cli_opts_init(&p, argc, argv, name, opts);
	int c;
	while ((c = cli_opts_next(&p)) > 0) {
		switch (c) {
		case 'u': o->uuid = p.value; break;
		case 'a': o->auto_start = true; break;
		case 'U': o->undefine = true; break;
		case 't': o->timeout = p.value; break;
		}
	}
	if (c < 0)
		return p.exit;
	o->args = p.args;
	o->nargs = p.nargs;
	if (o->nargs < min || o->nargs > max)
		return cli_error(EXIT_USAGE, "usage: devpass mdev %s %s", verb, what);
	return 0;
}

static int lib_fail(int r)
{
	return cli_lib_error(cli_exit_for(r));
}

/* What a changing sub-verb prints: a line of text, or {"uuid": ..., what: true}. */
static int done_report(const struct cli_ctx *ctx, const char *uuid, const char *what,
                       const char *text)
{
	if (ctx->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "uuid", json_object_new_string(uuid));
		json_object_object_add(o, what, json_object_new_boolean(true));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("%s\n", text);
	}
	return EXIT_OK;
}

static int table_done(struct dp_table *t, const struct cli_ctx *ctx, const char *empty)
{
	if (!ctx->json && dp_table_rows(t) == 0)
		printf("%s\n", empty);
	else
		dp_table_print(t, stdout, ctx->json);
	dp_table_free(t);
	return EXIT_OK;
}

/* ---- types and list ------------------------------------------------------------- */

static const struct dp_column type_columns[] = {
	{"parent", "PARENT", DP_COL_TEXT, 0},
	{"type", "TYPE", DP_COL_TEXT, 0},
	{"name", "NAME", DP_COL_TEXT, 0},
	{"available", "AVAILABLE", DP_COL_TEXT, 0},
	{"device_api", "API", DP_COL_TEXT, 0},
	{"description", "DESCRIPTION", DP_COL_TEXT | DP_COL_ELLIPSIZE, 60},
};

static int mdev_types(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct mdev_opts o;
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list l = {0};
	int r = mdev_opts_parse(argc, argv, "types", "", 0, 1, "[PARENT]", &o);
	if (r)
		return r;
	if ((r = dp_mdev_types_read(o.nargs ? o.args[0] : NULL, &l)) < 0)
		return lib_fail(r);
	struct dp_table *t = dp_table_new(type_columns, sizeof(type_columns) / sizeof(type_columns[0]));
	for (size_t i = 0; i < l.n; i++) {
		dp_table_add_row(t);
		dp_table_set_str(t, "parent", l.t[i].parent);
		dp_table_set_str(t, "type", l.t[i].type);
		dp_table_set_str(t, "name", l.t[i].name);
		dp_table_set_str(t, "description", l.t[i].description);
		dp_table_set_int(t, "available", l.t[i].available);
		dp_table_set_str(t, "device_api", l.t[i].device_api);
	}
	return table_done(t, ctx, "No mediated device parents (no /sys/class/mdev_bus entries, "
	                  "no NVIDIA VF with vGPU types).");
}

static const struct dp_column list_columns[] = {
	{"uuid", "UUID", DP_COL_TEXT, 0},
	{"parent", "PARENT", DP_COL_TEXT, 0},
	{"type", "TYPE", DP_COL_TEXT, 0},
	{"state", "STATE", DP_COL_TEXT, 0},
	{"start", "START", DP_COL_TEXT, 0},
	{"group", "GROUP", DP_COL_TEXT, 0},
	{"mdevctl_too", "MDEVCTL", 0, 0},
};

static void list_row(struct dp_table *t, const struct dp_mdev *m, const struct dp_strv *dual)
{
	dp_table_add_row(t);
	dp_table_set_str(t, "uuid", m->uuid);
	dp_table_set_str(t, "parent", m->parent);
	dp_table_set_str(t, "type", m->type);
	dp_table_set_str(t, "state", m->active ? "active" : "defined");
	dp_table_set_str(t, "start", !m->defined ? "transient" : m->auto_start ? "auto" : "manual");
	if (m->group >= 0)
		dp_table_set_int(t, "group", m->group);
	else
		dp_table_set_null(t, "group");
	dp_table_set_bool(t, "mdevctl_too", dp_strv_contains(dual, m->parent));
}

static int mdev_list(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct mdev_opts o;
	_cleanup_(dp_mdev_list_freep) struct dp_mdev_list l = {0};
	_cleanup_(dp_strv_freep) struct dp_strv dual = {0};
	int r = mdev_opts_parse(argc, argv, "list", "", 0, 0, "", &o);
	if (r)
		return r;
	if ((r = dp_mdev_list_read(&l)) < 0 || (r = dp_mdev_dual_managed(&dual)) < 0)
		return lib_fail(r);
	struct dp_table *t = dp_table_new(list_columns, sizeof(list_columns) / sizeof(list_columns[0]));
	for (size_t i = 0; i < l.n; i++)
		list_row(t, &l.m[i], &dual);
	/* both would create the same devices when the parent appears: one of them fails */
	for (size_t i = 0; i < dual.n; i++)
		fprintf(stderr, "warning: parent %s has definitions both in devpass and in "
		        "/etc/mdevctl.d: both manage it; keep one (devpass mdev import, then remove "
		        "/etc/mdevctl.d/%s)\n", dual.v[i], dual.v[i]);
	return table_done(t, ctx, "No mediated devices and no definitions.");
}

/* ---- create, remove ------------------------------------------------------------- */

/* --auto: the definition first (it checks the type and picks the uuid), then the device
 * under that uuid; a create that fails takes the definition back: nothing half-done */
static int create_defined(const struct mdev_opts *o, char uuid[37])
{
	char made[37];
	int r = dp_mdev_define(o->args[0], o->args[1], o->uuid, true, uuid);
	if (r < 0)
		return lib_fail(r);
	if ((r = dp_mdev_create(o->args[0], o->args[1], uuid, made)) < 0) {
		char msg[1024];
		cli_error_text(msg, sizeof(msg));
		dp_mdev_undefine(uuid);
		return cli_error(cli_exit_for(r), "%s (the definition was not kept)", msg);
	}
	return 0;
}

static int mdev_create(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct mdev_opts o;
	char uuid[37];
	int r = mdev_opts_parse(argc, argv, "create", "ua", 2, 2, "PARENT TYPE [--uuid U] [--auto]", &o);
	if (r)
		return r;
	if (o.uuid && !dp_mdev_uuid_valid(o.uuid))
		return cli_error(EXIT_USAGE, "--uuid: '%.100s' is not a uuid (36 characters: 8-4-4-4-12 "
		                 "hexadecimal digits)", o.uuid);
	if (o.auto_start)
		r = create_defined(&o, uuid);
	else if ((r = dp_mdev_create(o.args[0], o.args[1], o.uuid, uuid)) < 0)
		r = lib_fail(r);
	return r ? r : done_report(ctx, uuid, "created", uuid);
}

static int mdev_remove(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct mdev_opts o;
	int timeout_ms = MDEV_REMOVE_TIMEOUT_MS;
	int r = mdev_opts_parse(argc, argv, "remove", "Ut", 1, 1, "UUID [--undefine] [--timeout SECONDS]", &o);
	if (r || (o.timeout && (r = cli_timeout_parse(o.timeout, &timeout_ms))))
		return r;
	/* --undefine of a device that is only defined: nothing to remove, still undefined */
	r = dp_mdev_remove(o.args[0], timeout_ms);
	if (r < 0 && !(r == -ENOENT && o.undefine))
		return lib_fail(r);
	if (o.undefine && (r = dp_mdev_undefine(o.args[0])) < 0)
		return lib_fail(r);
	return done_report(ctx, o.args[0], "removed", o.undefine ? "removed and undefined" : "removed");
}

/* ---- definitions ---------------------------------------------------------------- */

static int mdev_define(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct mdev_opts o;
	char uuid[37];
	int r = mdev_opts_parse(argc, argv, "define", "ua", 2, 2, "PARENT TYPE [--uuid U] [--auto]", &o);
	if (r)
		return r;
	if (o.uuid && !dp_mdev_uuid_valid(o.uuid))
		return cli_error(EXIT_USAGE, "--uuid: '%.100s' is not a uuid (36 characters: 8-4-4-4-12 "
		                 "hexadecimal digits)", o.uuid);
	if ((r = dp_mdev_define(o.args[0], o.args[1], o.uuid, o.auto_start, uuid)) < 0)
		return lib_fail(r);
	return done_report(ctx, uuid, "defined", uuid);
}

static int mdev_undefine(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct mdev_opts o;
	int r = mdev_opts_parse(argc, argv, "undefine", "", 1, 1, "UUID", &o);
	if (r)
		return r;
	if ((r = dp_mdev_undefine(o.args[0])) < 0)
		return lib_fail(r);
	return done_report(ctx, o.args[0], "undefined", "undefined");
}

static int strv_report(const struct cli_ctx *ctx, const char *key, const struct dp_strv *sv,
                       const char *none)
{
	if (ctx->json) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();
		for (size_t i = 0; i < sv->n; i++)
			json_object_array_add(a, json_object_new_string(sv->v[i]));
		json_object_object_add(o, key, a);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
		return EXIT_OK;
	}
	if (!sv->n)
		printf("%s\n", none);
	for (size_t i = 0; i < sv->n; i++)
		printf("%s\n", sv->v[i]);
	return EXIT_OK;
}

static int mdev_start_parent(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct mdev_opts o;
	_cleanup_(dp_strv_freep) struct dp_strv started = {0};
	int r = mdev_opts_parse(argc, argv, "start-parent", "", 1, 1, "PARENT", &o);
	if (r)
		return r;
	r = dp_mdev_start_parent(o.args[0], &started);
	if (r < 0) {
		for (size_t i = 0; i < started.n; i++)
			fprintf(stderr, "started %s\n", started.v[i]);
		return lib_fail(r);
	}
	return strv_report(ctx, "started", &started, "nothing to start");
}

static int mdev_import(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct mdev_opts o;
	_cleanup_(dp_strv_freep) struct dp_strv imported = {0};
	int r = mdev_opts_parse(argc, argv, "import", "", 0, 1, "[DIR]", &o);
	if (r)
		return r;
	if ((r = dp_mdev_import(o.nargs ? o.args[0] : NULL, &imported)) < 0)
		return lib_fail(r);
	return strv_report(ctx, "imported", &imported, "nothing new to import");
}

/* ---- dispatch ------------------------------------------------------------------- */

static const struct cli_verb mdev_verbs[] = {
	{"types", mdev_types, NULL, NULL},
	{"list", mdev_list, NULL, NULL},
	{"create", mdev_create, NULL, NULL},
	{"remove", mdev_remove, NULL, NULL},
	{"define", mdev_define, NULL, NULL},
	{"undefine", mdev_undefine, NULL, NULL},
	{"start-parent", mdev_start_parent, NULL, NULL},
	{"import", mdev_import, NULL, NULL},
};

int cmd_mdev(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const char names[] = "types, list, create, remove, define, undefine, start-parent "
	                            "or import";
	if (argc >= 2 && argv[1][0] == '-') {
		struct cli_opts p;
		int r = cli_opts_none(2, argv, "mdev", 0, 0, &p);
		if (r)
			return r;
	}
	if (argc < 2 || argv[1][0] == '-')
		return cli_error(EXIT_USAGE, "devpass mdev needs a sub-command first: %s (devpass mdev "
		                 "--help)", names);
	for (size_t i = 0; i < sizeof(mdev_verbs) / sizeof(mdev_verbs[0]); i++)
		if (strcmp(mdev_verbs[i].name, argv[1]) == 0)
			return mdev_verbs[i].run(argc - 1, argv + 1, ctx);
	return cli_error(EXIT_USAGE, "unknown mdev sub-command '%.100s': %s (devpass mdev --help)",
	                 argv[1], names);
}
