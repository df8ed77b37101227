/* Changes to the pools' definitions: create, delete, rules, export/import (the database
 * and the definitions as stored are db.c; who is a member, view.c).
 * Every change is one BEGIN IMMEDIATE transaction, so a concurrent claim sees a pool
 * either before or after it, never half-defined. */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pools/tags.h"
#include "pools/units.h"
#include "pools/view.h"
#include "statedb/statedb.h"
#include "util/strutil.h"
#include "util/error.h"

/* Names end up in exports (resource names, Proxmox mapping ids): keep them plain. */
static int name_check(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > DP_POOL_NAME_MAX || !isalnum((unsigned char)name[0]) ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
		return dp_error_set(-EINVAL, "'%s' is not a pool name: use 1-%d letters, digits, '_', "
		                    "'.' or '-', starting with a letter or digit", name, DP_POOL_NAME_MAX);
	return 0;
}

static int description_check(const char *text)
{
	if (text && !dp_utf8_text_valid(text))
		return dp_error_set(-EINVAL, "the description must be one line of UTF-8 text");
	if (text && strlen(text) > 4096)
		return dp_error_set(-EINVAL, "the description is longer than 4096 characters");
	return 0;
}

/* Runs fn inside one write transaction on an open database with the pools loaded. */
typedef int (*pool_txn_fn)(struct pool_db *p, struct pool_defs *defs, void *arg);

static int pool_txn(pool_txn_fn fn, void *arg)
{
	struct pool_db p;
	struct pool_defs defs = {0};
	int r = pool_db_open(&p, true);
	if (r < 0)
		return r;
	if ((r = pool_db_begin(&p)) == 0 && (r = pool_defs_load(&p, &defs)) == 0)
		r = fn(&p, &defs, arg);
	if (r >= 0) {
		int c = pool_db_commit(&p);
		r = c < 0 ? c : r;
	} else {
		pool_db_rollback(&p);
	}
	pool_defs_free(&defs);
	pool_db_close(&p);
	return r;
}

static int pool_insert(struct pool_db *p, const struct dp_pool *pool)
{
	return pool_db_run(p, "create the pool",
	                   "INSERT INTO pools (name, type, description, on_release, created_at) "
	                   "VALUES (?1, ?2, ?3, ?4, ?5)", "ssssi", pool->name,
	                   dp_pool_type_name(pool->type), pool->description ? pool->description : "",
	                   dp_release_policy_name(pool->on_release), pool->created_at);
}

struct create_args {
	struct dp_pool pool;
	char *const *tags;
	size_t ntags;
};

/* The pool and its tags, in one transaction: a bad tag leaves no pool behind. */
static int create_txn(struct pool_db *p, struct pool_defs *defs, void *arg)
{
	const struct create_args *a = arg;
	if (pool_defs_find(defs, a->pool.name))
		return dp_error_set(-EEXIST, "a pool named '%s' exists already", a->pool.name);
	int r = pool_insert(p, &a->pool);
	return r < 0 ? r : pool_tags_insert(p, sqlite3_last_insert_rowid(p->db), a->tags, a->ntags);
}

int dp_pool_create_tagged(const char *name, enum dp_pool_type type, const char *description,
                          enum dp_release_policy on_release, char *const *tags, size_t ntags)
{
	int r = name_check(name);
	if (r == 0)
		r = description_check(description);
	for (size_t i = 0; r == 0 && i < ntags; i++)
		r = dp_pool_tag_check(tags[i]);
	if (r < 0)
		return r;
	struct create_args a = {.pool = {.type = type, .on_release = on_release,
	                                 .description = (char *)(description ? description : ""),
	                                 .created_at = (long long)time(NULL)},
	                        .tags = tags, .ntags = ntags};
	snprintf(a.pool.name, sizeof(a.pool.name), "%s", name);
	return pool_txn(create_txn, &a);
}

int dp_pool_create(const char *name, enum dp_pool_type type, const char *description,
                   enum dp_release_policy on_release)
{
	return dp_pool_create_tagged(name, type, description, on_release, NULL, 0);
}

/* A pool holding devices cannot go: its claims would lose their policy. */
static int pool_busy_check(struct pool_db *p, const struct pool_def *d)
{
	sqlite3_stmt *st = pool_db_query(p, "SELECT (SELECT count(DISTINCT member) FROM claims "
	                                    "WHERE pool_id = ?1), (SELECT count(*) FROM quarantine "
	                                    "WHERE pool_id = ?1)", "i", d->id);
	if (!st)
		return -EIO;
	long long claimed = 0, quarantined = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		claimed = sqlite3_column_int64(st, 0);
		quarantined = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (claimed)
		return dp_error_set_remedy(-EBUSY, DP_REMEDY_POOL_SHOW, d->pool.name, "pool '%s' has "
		                           "%lld claimed device(s): release them first", d->pool.name,
		                           claimed);
	if (quarantined)
		return dp_error_set_remedy(-EBUSY, DP_REMEDY_POOL_CLEAR, NULL, "pool '%s' has %lld "
		                           "quarantined device(s): clear them first", d->pool.name,
		                           quarantined);
	return 0;
}

static int delete_txn(struct pool_db *p, struct pool_defs *defs, void *arg)
{
	const char *name = arg;
	struct pool_def *d = pool_defs_find(defs, name);
	if (!d)
		return pool_missing_error(name);
	int r = pool_busy_check(p, d);
	return r < 0 ? r : pool_db_run(p, "delete the pool", "DELETE FROM pools WHERE id = ?1", "i", d->id);
}

int dp_pool_delete(const char *name)
{
	return pool_txn(delete_txn, (void *)name);
}

struct set_args {
	const char *name, *description;
	const enum dp_release_policy *on_release;
};

static int set_txn(struct pool_db *p, struct pool_defs *defs, void *arg)
{
	const struct set_args *a = arg;
	struct pool_def *d = pool_defs_find(defs, a->name);
	if (!d)
		return pool_missing_error(a->name);
	int r = 0;
	if (a->description)
		r = pool_db_run(p, "update the pool", "UPDATE pools SET description = ?1 WHERE id = ?2",
		                "si", a->description, d->id);
	if (r == 0 && a->on_release)
		r = pool_db_run(p, "update the pool", "UPDATE pools SET on_release = ?1 WHERE id = ?2",
		                "si", dp_release_policy_name(*a->on_release), d->id);
	return r;
}

int dp_pool_set(const char *name, const char *description, const enum dp_release_policy *on_release)
{
	struct set_args a = {name, description, on_release};
	int r = description_check(description);
	return r < 0 ? r : pool_txn(set_txn, &a);
}

/* ---- rules ------------------------------------------------------------------------- */

struct rule_args {
	const char *name, *text;
	const struct dp_pci_list *list;
};

/* Recomputes who is in the pool after its rules changed: new members are fingerprinted,
 * devices that left (and hold nothing) are forgotten. Returns the member count. */
static int members_resync(struct pool_db *p, const struct dp_pci_list *list, const char *name)
{
	struct pool_view v;
	struct dp_pool_members m = {0};
	int r = pool_view_build(p, list, &v, true);
	struct pool_def *d = r == 0 ? pool_defs_find(&v.defs, name) : NULL;
	size_t def = d ? (size_t)(d - v.defs.d) : 0;
	if (r == 0 && d)
		r = view_prints_prune(&v, p, def);
	if (r == 0 && d)
		r = view_members(&v, p, def, true, &m);
	if (r == 0 && d && d->pool.type == DP_POOL_USB)
		r = usb_members(p, &v.defs, d, &m);
	if (r == 0 && d && d->pool.type == DP_POOL_MDEV)
		r = mdev_members(p, list, d, &m);
	int count = 0;
	for (size_t i = 0; i < m.n; i++)
		count += m.m[i].state != DP_MEMBER_MISSING;
	dp_pool_members_free(&m);
	pool_view_free(&v);
	return r < 0 ? r : count;
}

static int rule_add_txn(struct pool_db *p, struct pool_defs *defs, void *arg)
{
	const struct rule_args *a = arg;
	struct pool_def *d = pool_defs_find(defs, a->name);
	if (!d)
		return pool_missing_error(a->name);
	struct dp_rule rule;
	int r = dp_rule_parse(a->text, &rule, NULL);
	if (r < 0)
		return r;
	r = dp_rule_check_type(&rule, d->pool.type);
	if (r == 0 && dp_strv_contains(&d->pool.rules, rule.text))
		r = dp_error_set(-EEXIST, "pool '%s' has this rule already: %s", a->name, rule.text);
	if (r == 0)
		r = pool_db_run(p, "add the rule", "INSERT INTO rules (pool_id, position, text) VALUES "
		                "(?1, (SELECT coalesce(max(position), 0) + 1 FROM rules WHERE pool_id = ?1), ?2)",
		                "is", d->id, rule.text);
	dp_rule_free(&rule);
	return r < 0 ? r : members_resync(p, a->list, a->name);
}

int dp_pool_rule_add(const char *name, const char *rule, const struct dp_pci_list *list)
{
	struct rule_args a = {name, rule, list};
	return pool_txn(rule_add_txn, &a);
}

int dp_pool_rule_matches(const char *name, const char *text, const struct dp_pci_list *list)
{
	struct pool_db p = {.db = NULL, .dirfd = -1};
	struct pool_view v;
	struct dp_rule rule;
	int r = dp_rule_parse(text, &rule, NULL);
	if (r < 0)
		return r;
	if ((r = pool_db_open(&p, false)) == 0) {
		r = pool_view_build(&p, list, &v, false);
		const struct pool_def *d = r == 0 ? pool_defs_find(&v.defs, name) : NULL;
		if (r == 0)
			r = !d ? pool_missing_error(name)
			       : d->pool.type == DP_POOL_USB ? (int)usb_rule_count(&rule)
			       : d->pool.type == DP_POOL_MDEV ? (int)mdev_rule_count(&rule)
			                                      : (int)view_rule_count(&v, d->pool.type, &rule);
		pool_view_free(&v);
	}
	pool_db_close(&p);
	dp_rule_free(&rule);
	return r;
}

/* The rule a user means: its number in `pool show`, or its text in any spelling. */
static int rule_find(const struct pool_def *d, const char *which, size_t *index)
{
	size_t n = strlen(which);
	if (n > 0 && n < 6 && strspn(which, "0123456789") == n) {
		unsigned long k = strtoul(which, NULL, 10);
		if (k < 1 || k > d->pool.rules.n)
			return dp_error_set(-ENOENT, "pool '%s' has %zu rule(s); there is no rule %lu",
			                    d->pool.name, d->pool.rules.n, k);
		*index = k - 1;
		return 0;
	}
	struct dp_rule rule;
	int r = dp_rule_parse(which, &rule, NULL);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->pool.rules.n; i++)
		if (strcmp(d->pool.rules.v[i], rule.text) == 0) {
			*index = i;
			dp_rule_free(&rule);
			return 0;
		}
	r = dp_error_set_remedy(-ENOENT, DP_REMEDY_POOL_SHOW, d->pool.name, "pool '%s' has no rule %s",
	                        d->pool.name, rule.text);
	dp_rule_free(&rule);
	return r;
}

static int rule_rm_txn(struct pool_db *p, struct pool_defs *defs, void *arg)
{
	const struct rule_args *a = arg;
	struct pool_def *d = pool_defs_find(defs, a->name);
	size_t index = 0;
	if (!d)
		return pool_missing_error(a->name);
	int r = rule_find(d, a->text, &index);
	if (r == 0)
		r = pool_db_run(p, "remove the rule", "DELETE FROM rules WHERE pool_id = ?1 AND text = ?2",
		                "is", d->id, d->pool.rules.v[index]);
	return r < 0 ? r : members_resync(p, a->list, a->name);
}

int dp_pool_rule_remove(const char *name, const char *which, const struct dp_pci_list *list)
{
	struct rule_args a = {name, which, list};
	return pool_txn(rule_rm_txn, &a);
}

int dp_pools_read(struct dp_pool_list *out)
{
	struct pool_db p;
	struct pool_defs defs;
	memset(out, 0, sizeof(*out));
	int r = pool_db_open(&p, false);
	if (r == 0)
		r = pool_defs_load(&p, &defs);
	pool_db_close(&p);
	if (r < 0)
		return r;
	out->p = calloc(defs.n ? defs.n : 1, sizeof(*out->p));
	for (size_t i = 0; out->p && i < defs.n; i++) {
		if (pool_copy(&out->p[out->n], &defs.d[i].pool) < 0)
			break;
		out->n++;
	}
	bool whole = out->p && out->n == defs.n;
	pool_defs_free(&defs);
	if (!whole) {
		dp_pool_list_free(out);
		return dp_oom();
	}
	return 0;
}

void dp_pool_list_free(struct dp_pool_list *pools)
{
	for (size_t i = 0; i < pools->n; i++)
		pool_free(&pools->p[i]);
	free(pools->p);
	memset(pools, 0, sizeof(*pools));
}

/* ---- export / import of the definitions --------------------------------------------- */

static struct json_object *pool_to_json(const struct dp_pool *pool)
{
	struct json_object *o = json_object_new_object(), *rules = json_object_new_array();
	json_object_object_add(o, "name", json_object_new_string(pool->name));
	json_object_object_add(o, "type", json_object_new_string(dp_pool_type_name(pool->type)));
	json_object_object_add(o, "description", json_object_new_string(pool->description));
	json_object_object_add(o, "on_release",
	                       json_object_new_string(dp_release_policy_name(pool->on_release)));
	for (size_t i = 0; i < pool->rules.n; i++)
		json_object_array_add(rules, json_object_new_string(pool->rules.v[i]));
	json_object_object_add(o, "rules", rules);
	return o;
}

int dp_pools_export(struct json_object **out)
{
	struct dp_pool_list pools;
	int r = dp_pools_read(&pools);
	if (r < 0)
		return r;
	struct json_object *arr = json_object_new_array();
	*out = json_object_new_object();
	json_object_object_add(*out, "version", json_object_new_int(1));
	for (size_t i = 0; i < pools.n; i++)
		json_object_array_add(arr, pool_to_json(&pools.p[i]));
	json_object_object_add(*out, "pools", arr);
	dp_pool_list_free(&pools);
	return 0;
}

static bool json_is_object(struct json_object *o)
{
	return o && json_object_is_type(o, json_type_object);
}

static const char *json_str(struct json_object *o, const char *key, const char *fallback)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return fallback;
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* One pool of the import, checked whole before anything is written. */
static int import_pool_parse(struct json_object *o, size_t index, struct dp_pool *pool,
                             struct dp_strv *rules)
{
	const char *name = json_is_object(o) ? json_str(o, "name", NULL) : NULL;
	const char *type = name ? json_str(o, "type", "pci") : NULL;
	const char *desc = type ? json_str(o, "description", "") : NULL;
	const char *policy = desc ? json_str(o, "on_release", "restore") : NULL;
	struct json_object *arr = NULL;
	if (!policy || (json_object_object_get_ex(o, "rules", &arr) &&
	                !json_object_is_type(arr, json_type_array)))
		return dp_error_set(-EINVAL, "pool %zu of the import: expected an object with a string "
		                    "name and optional type, description, on_release and a rules list",
		                    index + 1);
	memset(pool, 0, sizeof(*pool));
	snprintf(pool->name, sizeof(pool->name), "%s", name);
	int r = name_check(name);
	if (r == 0)
		r = dp_pool_type_parse(type, &pool->type);
	if (r == 0)
		r = dp_release_policy_parse(policy, &pool->on_release);
	if (r == 0)
		r = description_check(desc);
	pool->description = (char *)desc;
	for (size_t i = 0; r == 0 && arr && i < json_object_array_length(arr); i++) {
		struct json_object *t = json_object_array_get_idx(arr, i);
		struct dp_rule rule;
		if (!json_object_is_type(t, json_type_string))
			return dp_error_set(-EINVAL, "pool '%s' of the import: rule %zu is not a string",
			                    name, i + 1);
		if ((r = dp_rule_parse(json_object_get_string(t), &rule, NULL)) < 0 ||
		    (r = dp_rule_check_type(&rule, pool->type)) < 0) {
			dp_rule_free(&rule);   /* a failed parse left it empty */
			char why[1024];   /* the message is rewritten in the buffer it is read from */
			snprintf(why, sizeof(why), "%s", dp_error_message());
			return dp_error_set(r, "pool '%s' of the import, rule %zu: %s", name, i + 1, why);
		}
		if (!dp_strv_contains(rules, rule.text))
			r = dp_strv_add(rules, rule.text) < 0 ? dp_oom() : 0;
		dp_rule_free(&rule);
	}
	return r;
}

struct import_args {
	struct json_object *in;
	bool replace;
	const struct dp_pci_list *list;
};

static int import_one(struct pool_db *p, struct pool_defs *defs, struct dp_pool *pool,
                      const struct dp_strv *rules, bool replace)
{
	struct pool_def *d = pool_defs_find(defs, pool->name);
	int r = 0;
	if (d && !replace)
		return dp_error_set_remedy(-EEXIST, DP_REMEDY_POOL_REPLACE, pool->name, "a pool named "
		                           "'%s' exists already", pool->name);
	pool->created_at = d ? d->pool.created_at : (long long)time(NULL);
	if (d)   /* redefined in place: its claims and quarantine keep their pool */
		r = pool_db_run(p, "redefine the pool", "UPDATE pools SET type = ?1, description = ?2, "
		                "on_release = ?3 WHERE id = ?4", "sssi", dp_pool_type_name(pool->type),
		                pool->description, dp_release_policy_name(pool->on_release), d->id);
	else
		r = pool_insert(p, pool);
	if (r == 0 && d)
		r = pool_db_run(p, "redefine the rules", "DELETE FROM rules WHERE pool_id = ?1", "i", d->id);
	for (size_t i = 0; r == 0 && i < rules->n; i++)
		r = pool_db_run(p, "add the rule", "INSERT INTO rules (pool_id, position, text) VALUES "
		                "((SELECT id FROM pools WHERE name = ?1), ?2, ?3)", "sis", pool->name,
		                (long long)i + 1, rules->v[i]);
	return r;
}

static int import_txn(struct pool_db *p, struct pool_defs *defs, void *arg)
{
	const struct import_args *a = arg;
	struct json_object *arr, *version;
	if (!json_is_object(a->in) || !json_object_object_get_ex(a->in, "pools", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return dp_error_set(-EINVAL, "the import is not an export of devpass's "
		                    "pools: expected "
		                    "{\"version\": 1, \"pools\": [...]}");
	if (json_object_object_get_ex(a->in, "version", &version) &&
	    (!json_object_is_type(version, json_type_int) || json_object_get_int(version) != 1))
		return dp_error_set(-EINVAL, "the import has version %s; this devpass reads version 1",
		                    json_object_to_json_string(version));
	struct dp_strv seen = {0};
	int r = 0;
	for (size_t i = 0; r == 0 && i < json_object_array_length(arr); i++) {
		struct dp_pool pool;
		struct dp_strv rules = {0};
		r = import_pool_parse(json_object_array_get_idx(arr, i), i, &pool, &rules);
		if (r == 0 && dp_strv_contains(&seen, pool.name))
			r = dp_error_set(-EINVAL, "the import defines pool '%s' twice", pool.name);
		if (r == 0)
			r = dp_strv_add(&seen, pool.name) < 0 ? dp_oom() : 0;
		if (r == 0)
			r = import_one(p, defs, &pool, &rules, a->replace);
		dp_strv_free(&rules);
	}
	for (size_t i = 0; r == 0 && i < seen.n; i++) {
		int n = members_resync(p, a->list, seen.v[i]);
		r = n < 0 ? n : 0;
	}
	dp_strv_free(&seen);
	return r;
}

int dp_pools_import(struct json_object *in, bool replace, const struct dp_pci_list *list)
{
	struct import_args a = {in, replace, list};
	return pool_txn(import_txn, &a);
}

/* ---- the rule that selects a device --------------------------------------------------- */

int dp_pool_rule_for_device(const struct dp_pci_device *dev, const char *by, char **rule)
{
	struct dp_pci_identity id;
	*rule = NULL;
	if (!by || strcmp(by, "id") == 0) {
		if (dev->has_subsys)
			return asprintf(rule, "id=%04x:%04x subsystem=%04x:%04x", dev->vendor, dev->device,
			                dev->subsys_vendor, dev->subsys_device) < 0 ? -ENOMEM : 0;
		return asprintf(rule, "id=%04x:%04x", dev->vendor, dev->device) < 0 ? -ENOMEM : 0;
	}
	if (strcmp(by, "address") == 0)
		return asprintf(rule, "address=%s", dev->address) < 0 ? -ENOMEM : 0;
	if (strcmp(by, "serial") != 0)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "by", "'%s' is not a way to "
		                           "select a device: use id, address or serial", by);
	dp_pci_identity_read(dev, &id);
	const char *serial = *id.serial ? id.serial : id.dsn;
	if (!*serial)
		return dp_error_set(-ENODATA, "%s has no serial number devpass can read (neither an "
		                    "NVMe serial nor a PCIe Device Serial Number): select it by id or "
		                    "by address", dev->address);
	if (strpbrk(serial, " \t\"',*?[]"))
		return dp_error_set(-EINVAL, "%s's serial number '%s' has characters a rule cannot "
		                    "hold: select it by id or by address", dev->address, serial);
	return asprintf(rule, "id=%04x:%04x serial=%s", dev->vendor, dev->device, serial) < 0
	       ? -ENOMEM : 0;
}
