/* The pools' database and their definitions as stored: opening it, transactions, queries
 * with bound parameters, and the pools with their parsed rules. Below the view (view.c),
 * which joins these with the inventory, and the operations that change them (store.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

#include "fs/sysroot.h"
#include "pools/db.h"
#include "statedb/statedb.h"
#include "util/error.h"

static const char *const type_names[] = {"pci", "sriov-vf", "usb", "mdev"};
static const char *const policy_names[] = {"restore", "keep-vfio", "quarantine"};

const char *dp_pool_type_name(enum dp_pool_type t)
{
	return t <= DP_POOL_MDEV ? type_names[t] : "?";
}

int dp_pool_type_parse(const char *text, enum dp_pool_type *out)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(text, type_names[i]) == 0) {
			*out = (enum dp_pool_type)i;
			return 0;
		}
	return dp_error_set(-EINVAL, "unknown pool type '%s': use pci, sriov-vf, usb or mdev", text);
}

const char *dp_release_policy_name(enum dp_release_policy p)
{
	return p <= DP_RELEASE_QUARANTINE ? policy_names[p] : "?";
}

int dp_release_policy_parse(const char *text, enum dp_release_policy *out)
{
	for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (strcmp(text, policy_names[i]) == 0) {
			*out = (enum dp_release_policy)i;
			return 0;
		}
	return dp_error_set(-EINVAL, "unknown release policy '%s': use restore, keep-vfio or "
	                    "quarantine", text);
}

/* ---- the database ----------------------------------------------------------------- */

/* The schema version of an open database, -1 when it cannot be read. */
static int schema_version(sqlite3 *db)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		return -1;
	return sqlite3_column_int(st, 0);
}

int pool_db_open(struct pool_db *p, bool write)
{
	*p = POOL_DB_NULL;
	int r = dp_statedb_open(write ? DP_STATEDB_CREATE : 0, &p->db, &p->dirfd);
	if (r < 0 || write || !p->db)
		return r;
	/* a reader of a database written by an older devpass: no pools in it yet; one it
	 * cannot read (permissions) or from a newer devpass: an error, not "no pools" */
	int version = schema_version(p->db);
	if (version < 0)
		r = dp_error_set(-EACCES, "cannot read the devpass state database /%s: %s (run as root?)",
		                 DP_STATEDB_PATH, sqlite3_errmsg(p->db));
	else if (version > dp_statedb_version())
		r = dp_error_set(-EPROTO, "the devpass state database /%s has schema version %d; this "
		                 "devpass knows versions up to %d: use the newer devpass that wrote it",
		                 DP_STATEDB_PATH, version, dp_statedb_version());
	if (r < 0 || version < 2)
		pool_db_close(p);
	return r;
}

void pool_db_close(struct pool_db *p)
{
	if (p->db)
		dp_statedb_close(p->db, p->dirfd);
	*p = POOL_DB_NULL;
}

int pool_db_begin(struct pool_db *p)
{
	return dp_statedb_exec(p->db, "BEGIN IMMEDIATE", "begin");
}

int pool_db_commit(struct pool_db *p)
{
	return dp_statedb_exec(p->db, "COMMIT", "commit");
}

void pool_db_rollback(struct pool_db *p)
{
	sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
}

static sqlite3_stmt *query_v(struct pool_db *p, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) {
		dp_statedb_error(p->db, "prepare");
		return NULL;
	}
	for (int i = 0; types && types[i]; i++) {
		if (types[i] == 's')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
	}
	return st;
}

sqlite3_stmt *pool_db_query(struct pool_db *p, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	sqlite3_stmt *st = query_v(p, sql, types, ap);
	va_end(ap);
	return st;
}

int pool_db_run(struct pool_db *p, const char *what, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = query_v(p, sql, types, ap);
	va_end(ap);
	if (!st)
		return -EIO;
	int rc = sqlite3_step(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : dp_statedb_error(p->db, what);
}

/* ---- definitions ------------------------------------------------------------------ */

int pool_copy(struct dp_pool *dst, const struct dp_pool *src)
{
	*dst = *src;
	dst->rules = (struct dp_strv){0};
	dst->description = strdup(src->description ? src->description : "");
	if (!dst->description)
		return -ENOMEM;
	for (size_t i = 0; i < src->rules.n; i++)
		if (dp_strv_add(&dst->rules, src->rules.v[i]) < 0) {
			pool_free(dst);
			return -ENOMEM;
		}
	return 0;
}

void pool_free(struct dp_pool *pool)
{
	free(pool->description);
	pool->description = NULL;
	dp_strv_free(&pool->rules);
}

static const char *column_text(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	return s ? s : "";
}

/* Appends one stored rule, parsed, to a definition. */
static int def_rule_add(struct pool_def *d, const char *text)
{
	struct dp_rule rule = {0};
	/* stored rules were parsed once already; one that no longer parses (an older
	 * devpass's syntax) matches nothing rather than everything */
	if (dp_rule_parse(text, &rule, NULL) < 0)
		rule = (struct dp_rule){0};
	if (dp_array_grow(&d->rules, d->nrules, 1, sizeof(*d->rules)) < 0 ||
	    dp_strv_add(&d->pool.rules, text) < 0) {
		dp_rule_free(&rule);
		return -ENOMEM;
	}
	d->rules[d->nrules++] = rule;
	return 0;
}

static int rules_load(struct pool_db *p, struct pool_def *d)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st =
		pool_db_query(p, "SELECT text FROM rules WHERE pool_id = ?1 ORDER BY position", "i", d->id);
	if (!st)
		return -EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (def_rule_add(d, column_text(st, 0)) < 0)
			return -ENOMEM;
	return rc == SQLITE_DONE ? 0 : dp_statedb_error(p->db, "read the rules");
}

/* Appends the pool of the current row (id, name, type, description, on_release, created_at). */
static int def_add(struct pool_defs *defs, sqlite3_stmt *st)
{
	if (dp_array_grow(&defs->d, defs->n, 1, sizeof(*defs->d)) < 0)
		return -ENOMEM;
	struct pool_def *d = &defs->d[defs->n];
	*d = (struct pool_def){.id = sqlite3_column_int64(st, 0)};
	snprintf(d->pool.name, sizeof(d->pool.name), "%s", column_text(st, 1));
	dp_pool_type_parse(column_text(st, 2), &d->pool.type);
	dp_release_policy_parse(column_text(st, 4), &d->pool.on_release);
	d->pool.created_at = sqlite3_column_int64(st, 5);
	d->pool.description = strdup(column_text(st, 3));
	if (!d->pool.description)
		return -ENOMEM;
	defs->n++;
	return 0;
}

static int defs_read(struct pool_db *p, struct pool_defs *defs)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st =
		pool_db_query(p, "SELECT id, name, type, description, on_release, created_at "
		                 "FROM pools ORDER BY name", NULL);
	if (!st)
		return -EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (def_add(defs, st) < 0)
			return -ENOMEM;
	return rc == SQLITE_DONE ? 0 : dp_statedb_error(p->db, "read the pools");
}

int pool_defs_load(struct pool_db *p, struct pool_defs *out)
{
	_cleanup_(pool_defs_freep) struct pool_defs defs = {0};
	*out = (struct pool_defs){0};
	if (!p->db)
		return 0;
	int r = defs_read(p, &defs);
	for (size_t i = 0; r == 0 && i < defs.n; i++)
		r = rules_load(p, &defs.d[i]);
	if (r < 0)
		return r;
	*out = defs;
	defs = (struct pool_defs){0};
	return 0;
}

void pool_defs_free(struct pool_defs *defs)
{
	for (size_t i = 0; i < defs->n; i++) {
		for (size_t j = 0; j < defs->d[i].nrules; j++)
			dp_rule_free(&defs->d[i].rules[j]);
		free(defs->d[i].rules);
		pool_free(&defs->d[i].pool);
	}
	free(defs->d);
	*defs = (struct pool_defs){0};
}

struct pool_def *pool_defs_find(const struct pool_defs *defs, const char *name)
{
	for (size_t i = 0; i < defs->n; i++)
		if (strcmp(defs->d[i].pool.name, name) == 0)
			return &defs->d[i];
	return NULL;
}

int pool_missing_error(const char *name)
{
	return dp_error_set_remedy(-ENOENT, DP_REMEDY_POOL_CREATE, name, "no pool named '%s'", name);
}

/* ---- the processes claims live with --------------------------------------------- */

long long pid_start_time(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "proc/%d/stat", pid);
	if (dp_fs_read_line(path, buf, sizeof(buf)) <= 0)
		return 0;
	char *p = strrchr(buf, ')');   /* the command name may hold spaces and parentheses */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoll(p + 1, NULL, 10) : 0;
}

bool pid_alive(int pid, long long start)
{
	if (pid <= 0)
		return true;   /* a claim without a process lasts until released */
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	long long now = pid_start_time(pid);
	return !(start && now && now != start);
}
