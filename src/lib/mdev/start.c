/* Starting definitions when their parent appears, and mdevctl's definitions: imported
 * from /etc/mdevctl.d/<parent>/<uuid> (JSON: mdev_type, start, attrs), and noticed when
 * both mdevctl and devpass would start devices on one parent. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "mdev.h"
#include "util/error.h"

#define MDEVCTL_DIR "etc/mdevctl.d"
#define MDEV_REMOVE_TIMEOUT_MS 10000

DEFINE_CLEANUP_PTR(json_object, json_object_put, json_object_putp)

static int attr_write(const char *uuid, json_object *pair)
{
	json_object_object_foreach(pair, key, val) {
		char path[256];
		int r = mdev_name_check("attribute", key, 128);
		if (r < 0)
			return r;
		snprintf(path, sizeof(path), MDEV_DEVICES "/%s/%s", uuid, key);
		if ((r = dp_fs_write(path, json_object_get_string(val), 0)) < 0)
			return dp_error_set(r, "cannot write attribute %s of mdev %s: %s", key, uuid,
			                    strerror(-r));
	}
	return 0;
}

int mdev_attrs_apply(const char *uuid, const char *attrs_json)
{
	_cleanup_(json_object_putp) json_object *a = json_tokener_parse(attrs_json);
	if (!a || !json_object_is_type(a, json_type_array))
		return dp_error_set(-EINVAL, "the attributes stored for mdev %s are not a JSON array",
		                    uuid);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *pair = json_object_array_get_idx(a, i);
		int r = json_object_is_type(pair, json_type_object) ? attr_write(uuid, pair) :
		        dp_error_set(-EINVAL, "attribute %zu of mdev %s is not an object", i, uuid);
		if (r < 0)
			return r;
	}
	return 0;
}

/* create, then the attributes; a device whose attributes fail is removed again */
static int def_start(const struct dp_mdev_def *d)
{
	char id[37];
	int r = dp_mdev_create(d->parent, d->type, d->uuid, id);
	if (r < 0)
		return r;
	if ((r = mdev_attrs_apply(id, d->attrs)) < 0) {
		char *saved = strdup(dp_error_message());
		dp_mdev_remove(id, MDEV_REMOVE_TIMEOUT_MS);
		dp_error_set(r, "%s (the mdev was removed again)", saved ? saved : "");
		free(saved);
	}
	return r;
}

static bool is_active(const char *uuid)
{
	char path[128];
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s", uuid);
	return dp_fs_exists(path);
}

int dp_mdev_start_parent(const char *parent, struct dp_strv *started)
{
	int r = mdev_name_check("parent", parent, 64), first = 0;
	_cleanup_(dp_mdev_def_list_freep) struct dp_mdev_def_list defs = {0};
	if (r < 0 || (r = dp_mdev_defs_read(&defs)) < 0)
		return r;
	_cleanup_free_ char *first_msg = NULL;
	for (size_t i = 0; i < defs.n; i++) {
		const struct dp_mdev_def *d = &defs.d[i];
		if (strcmp(d->parent, parent) || !d->auto_start || is_active(d->uuid))
			continue;
		/* one definition that fails does not keep the others from starting */
		if ((r = def_start(d)) < 0 && !first) {
			first = r;
			first_msg = strdup(dp_error_message());
		} else if (r >= 0 && dp_strv_add(started, d->uuid) < 0) {
			return dp_oom();
		}
	}
	if (first)
		dp_error_set(first, "%s", first_msg ? first_msg : "");
	return first;
}

/* ---- mdevctl ---------------------------------------------------------------------- */

static int mdevctl_parse(const char *path, const char *parent, const char *uuid,
                         struct dp_mdev_def *d)
{
	_cleanup_free_ char *text = NULL;
	int r = dp_fs_read_all(path, &text, NULL);
	if (r < 0)
		return dp_error_set(r, "cannot read /%s: %s", path, strerror(-r));
	_cleanup_(json_object_putp) json_object *o = json_tokener_parse(text);
	json_object *type, *start, *attrs = NULL;
	if (!o || !json_object_object_get_ex(o, "mdev_type", &type) ||
	    !json_object_is_type(type, json_type_string))
		return dp_error_set(-EBADMSG, "/%s is no mdevctl definition (JSON with mdev_type)", path);
	const char *s = json_object_object_get_ex(o, "start", &start) ?
	                json_object_get_string(start) : "manual";
	if (strcmp(s, "auto") && strcmp(s, "manual"))
		return dp_error_set(-EBADMSG, "/%s: start is '%s', not auto or manual", path, s);
	json_object_object_get_ex(o, "attrs", &attrs);
	if (attrs && !json_object_is_type(attrs, json_type_array))
		return dp_error_set(-EBADMSG, "/%s: attrs is not a list", path);
	if ((r = mdev_name_check("type", json_object_get_string(type), sizeof(d->type))) < 0)
		return r;
	snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
	snprintf(d->parent, sizeof(d->parent), "%s", parent);
	snprintf(d->type, sizeof(d->type), "%s", json_object_get_string(type));
	snprintf(d->source, sizeof(d->source), "mdevctl");
	d->auto_start = strcmp(s, "auto") == 0;
	d->attrs = strdup(attrs ? json_object_to_json_string_ext(attrs, JSON_C_TO_STRING_PLAIN) : "[]");
	return d->attrs ? 0 : dp_oom();
}

/* Calls fn for every <parent>/<uuid> file below dir; names that are no uuid are skipped
 * (mdevctl ignores them too). */
typedef int (*mdevctl_fn)(const char *path, const char *parent, const char *uuid, void *ctx);
static int mdevctl_walk(const char *dir, mdevctl_fn fn, void *ctx)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : dp_error_set(-errno, "cannot read /%s: %s", dir,
		                                          strerror(errno));
	struct dirent *pe;
	while ((pe = readdir(d))) {
		char sub[512];
		if (pe->d_name[0] == '.' || mdev_name_check("parent", pe->d_name, 64) < 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, pe->d_name);
		_cleanup_closedir_ DIR *s = dp_fs_opendir(sub);
		struct dirent *fe;
		while (s && (fe = readdir(s))) {
			char path[600], id[37];
			if (!dp_mdev_uuid_valid(fe->d_name) || mdev_uuid_normalize(fe->d_name, id) < 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, fe->d_name);
			int r = fn(path, pe->d_name, id, ctx);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

struct import_ctx {
	struct dp_mdev_def_list defs;
	struct dp_strv *imported;
	bool store;   /* the first pass only reads every file: a bad one stores nothing */
};

static bool def_known(const struct dp_mdev_def_list *l, const char *uuid)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->d[i].uuid, uuid) == 0)
			return true;
	return false;
}

static int import_one(const char *path, const char *parent, const char *uuid, void *ctx)
{
	struct import_ctx *c = ctx;
	struct dp_mdev_def d = {0};
	if (def_known(&c->defs, uuid))
		return 0;
	int r = mdevctl_parse(path, parent, uuid, &d);
	if (r >= 0 && c->store)
		r = mdev_def_store(&d);
	free(d.attrs);
	if (r >= 0 && c->store && dp_strv_add(c->imported, uuid) < 0)
		return dp_oom();
	return r;
}

int dp_mdev_import(const char *dir, struct dp_strv *imported)
{
	const char *from = dir ? dir : MDEVCTL_DIR;
	if (!dp_fs_path_is_safe(from))
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "dir", "'%s' leaves the root "
		                           "(a .. component)", from);
	struct import_ctx c = {.imported = imported};
	int r = dp_mdev_defs_read(&c.defs);
	if (r >= 0) {
		char path[512];
		snprintf(path, sizeof(path), "%s", from);
		if (!dp_fs_exists(path))
			r = dp_error_set(-ENOENT, "no mdevctl definitions: /%s does not exist",
			                 from[0] == '/' ? from + 1 : from);
		else if ((r = mdevctl_walk(path, import_one, &c)) >= 0) {
			c.store = true;
			r = mdevctl_walk(path, import_one, &c);
		}
	}
	dp_mdev_def_list_free(&c.defs);
	return r;
}

struct dual_ctx {
	const struct dp_mdev_def_list *defs;
	struct dp_strv *parents;
};

static int dual_one(const char *path, const char *parent, const char *uuid, void *ctx)
{
	(void)path;
	(void)uuid;
	struct dual_ctx *c = ctx;
	if (dp_strv_contains(c->parents, parent))
		return 0;
	for (size_t i = 0; i < c->defs->n; i++)
		if (strcmp(c->defs->d[i].parent, parent) == 0)
			return dp_strv_add(c->parents, parent) < 0 ? dp_oom() : 0;
	return 0;
}

int dp_mdev_dual_managed(struct dp_strv *parents)
{
	_cleanup_(dp_mdev_def_list_freep) struct dp_mdev_def_list defs = {0};
	int r = dp_mdev_defs_read(&defs);
	if (r < 0 || !defs.n)
		return r;
	struct dual_ctx c = {&defs, parents};
	return mdevctl_walk(MDEVCTL_DIR, dual_one, &c);
}
