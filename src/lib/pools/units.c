/* Claims of USB devices and mediated devices: one row each in unit_claims, keyed by the
 * member's identity. The primary key (kind, unit) is what makes a second owner impossible,
 * as the address is for PCI claims. Release of an mdev removes it; of a USB device it only
 * forgets the row (nothing was bound). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pools/units.h"
#include "statedb/statedb.h"
#include "util/error.h"
#include "util/strutil.h"

static const char *text_col(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	return s ? s : "";
}

void unit_claims_free(struct unit_claims *u)
{
	free(u->c);
	u->c = NULL;
	u->n = 0;
}

static void unit_claim_fill(struct unit_claim *c, sqlite3_stmt *st)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->kind, sizeof(c->kind), "%s", text_col(st, 0));
	snprintf(c->unit, sizeof(c->unit), "%s", text_col(st, 1));
	c->pool_id = sqlite3_column_int64(st, 2);
	snprintf(c->pool, sizeof(c->pool), "%s", text_col(st, 3));
	snprintf(c->owner, sizeof(c->owner), "%s", text_col(st, 4));
	c->pid = sqlite3_column_int(st, 5);
	c->pid_start = sqlite3_column_int64(st, 6);
	c->claimed_at = sqlite3_column_int64(st, 7);
	snprintf(c->place, sizeof(c->place), "%s", text_col(st, 8));
	snprintf(c->detail, sizeof(c->detail), "%s", text_col(st, 9));
	c->stale = !pid_alive(c->pid, c->pid_start);
}

int unit_claims_load(struct pool_db *p, const char *kind, struct unit_claims *out)
{
	memset(out, 0, sizeof(*out));
	if (!p->db)
		return 0;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = pool_db_query(p,
		"SELECT u.kind, u.unit, u.pool_id, p.name, u.owner, u.pid, u.pid_start, u.claimed_at, "
		"u.place, u.detail FROM unit_claims u JOIN pools p ON p.id = u.pool_id "
		"WHERE ?1 = '' OR u.kind = ?1 ORDER BY u.owner, u.kind, u.unit", "s", kind ? kind : "");
	if (!st)
		return -EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (dp_array_grow(&out->c, out->n, 1, sizeof(*out->c)) < 0) {
			unit_claims_free(out);
			return dp_oom();
		}
		unit_claim_fill(&out->c[out->n++], st);
	}
	if (rc != SQLITE_DONE) {
		unit_claims_free(out);
		return dp_statedb_error(p->db, "read the claims");
	}
	return 0;
}

const struct unit_claim *unit_claim_find(const struct unit_claims *u, const char *kind,
                                         const char *unit)
{
	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->c[i].kind, kind) == 0 && strcmp(u->c[i].unit, unit) == 0)
			return &u->c[i];
	return NULL;
}

int unit_claim_insert(struct pool_db *p, const struct unit_claim *c)
{
	return pool_db_run(p, "record the claim", "INSERT INTO unit_claims (kind, unit, pool_id, "
	                   "owner, pid, pid_start, claimed_at, place, detail) VALUES "
	                   "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", "ssisiiiss", c->kind, c->unit,
	                   c->pool_id, c->owner, (long long)c->pid, c->pid_start, c->claimed_at,
	                   c->place, c->detail);
}

int unit_claim_delete(struct pool_db *p, const struct unit_claim *c)
{
	return pool_db_run(p, "forget the claim", "DELETE FROM unit_claims WHERE kind = ?1 AND "
	                   "unit = ?2", "ss", c->kind, c->unit);
}

struct dp_claim *unit_claim_report(struct dp_claim_list *out, const struct unit_claim *c,
                                   const char *where)
{
	if (dp_array_grow(&out->c, out->n, 1, sizeof(*out->c)) < 0)
		return NULL;
	struct dp_claim *d = &out->c[out->n++];
	memset(d, 0, sizeof(*d));
	/* the address column names the member where it is now; functions its identity */
	snprintf(d->address, sizeof(d->address), "%s", where);
	snprintf(d->pool, sizeof(d->pool), "%s", c->pool);
	snprintf(d->owner, sizeof(d->owner), "%s", c->owner);
	d->pid = c->pid;
	d->claimed_at = c->claimed_at;
	d->group = DP_NO_GROUP;
	d->numa = DP_NO_NUMA;
	if (dp_strv_add(&d->functions, c->unit) < 0) {
		out->n--;
		return NULL;
	}
	return d;
}

int unit_pool_type(const char *pool, enum dp_pool_type *type)
{
	_cleanup_(pool_db_closep) struct pool_db p = POOL_DB_NULL;
	_cleanup_(pool_defs_freep) struct pool_defs defs = {0};
	int r = pool_db_open(&p, false);
	if (r < 0 || !p.db)
		return r < 0 ? r : -ENOENT;
	if ((r = pool_defs_load(&p, &defs)) < 0)
		return r;
	const struct pool_def *d = pool_defs_find(&defs, pool);
	if (!d)
		return -ENOENT;
	*type = d->pool.type;
	return 0;
}

/* ---- release ------------------------------------------------------------------------- */

static bool unit_named(const struct unit_claim *c, char *const *which, size_t n, bool *used)
{
	bool wanted = n == 0;
	for (size_t k = 0; k < n; k++)
		if (strcmp(which[k], c->unit) == 0 || strcmp(which[k], c->place) == 0)
			wanted = used[k] = true;
	return wanted;
}

static int unit_release_one(struct pool_db *p, const struct unit_claim *c, int timeout_ms,
                            struct dp_claim_list *out)
{
	/* a USB claim binds nothing: forgetting the row gives it back; an mdev claim is the
	 * device, removed first (one already gone is released all the same) */
	int r = strcmp(c->kind, "mdev") == 0 ? dp_mdev_remove(c->unit, timeout_ms) : 0;
	if (r == -ENOENT)
		r = 0;
	if (r == 0)
		r = unit_claim_delete(p, c);
	struct dp_claim *d = r == 0 ? unit_claim_report(out, c, c->place) : NULL;
	if (r == 0 && !d)
		return dp_oom();
	if (d)
		snprintf(d->action, sizeof(d->action), "released");
	return r;
}

static int which_unused(char *const *which, size_t n, const bool *used, const char *owner)
{
	for (size_t k = 0; k < n; k++)
		if (!used[k])
			return dp_error_set_remedy(-ENOENT, DP_REMEDY_POOL_SHOW, NULL, "%s is not claimed "
			                           "by '%s'", which[k], owner);
	return 0;
}

int units_release(const char *owner, char *const *which, size_t n, bool stale_only,
                  int timeout_ms, struct dp_claim_list *out)
{
	_cleanup_(pool_db_closep) struct pool_db p = POOL_DB_NULL;
	_cleanup_(unit_claims_freep) struct unit_claims u = {0};
	_cleanup_free_ bool *used = calloc(n + 1, sizeof(*used));
	if (!used)
		return dp_oom();
	int r = pool_db_open(&p, true), count = 0;
	if (r == 0)
		r = unit_claims_load(&p, NULL, &u);
	for (size_t i = 0; r == 0 && i < u.n; i++) {
		const struct unit_claim *c = &u.c[i];
		bool mine = stale_only ? c->stale : strcmp(c->owner, owner) == 0;
		if (mine && unit_named(c, which, n, used) && (r = unit_release_one(&p, c, timeout_ms, out)) == 0)
			count++;
	}
	if (r == 0 && !stale_only)
		r = which_unused(which, n, used, owner);
	return r < 0 ? r : count;
}

int units_claims_read(const char *owner, struct dp_claim_list *out)
{
	_cleanup_(pool_db_closep) struct pool_db p = POOL_DB_NULL;
	_cleanup_(unit_claims_freep) struct unit_claims u = {0};
	int r = pool_db_open(&p, false);
	if (r == 0)
		r = unit_claims_load(&p, NULL, &u);
	for (size_t i = 0; r == 0 && i < u.n; i++) {
		const struct unit_claim *c = &u.c[i];
		if (owner && strcmp(c->owner, owner) != 0)
			continue;
		if (!unit_claim_report(out, c, c->place))
			return dp_oom();
		if (c->stale) {
			dp_strv_addf(&out->warnings, "WARNING: %s: the process %d of %s is gone: a pool gc "
			             "collects the claim", c->unit, c->pid, c->owner);
			out->next = DP_REMEDY_POOL_GC;
		}
	}
	return r;
}
