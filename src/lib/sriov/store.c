/* Stored VF settings (schema version 5, table vf_settings): what was asked of each VF,
 * so it can be applied again when the VFs are re-created (at boot, after a count change).
 * A column is NULL while its setting was never given. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "sriov.h"
#include "statedb/statedb.h"

void dp_vf_mac_format(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static void bind_int_if(sqlite3_stmt *st, int col, bool set, int value)
{
	if (set)
		sqlite3_bind_int(st, col, value);
	else
		sqlite3_bind_null(st, col);
}

static void put_bind(sqlite3_stmt *st, const char *pf_key, int vf, const struct dp_vf_settings *s)
{
	char mac[18];
	bool vlan = s->set & DP_VF_SET_VLAN;
	dp_vf_mac_format(s->mac, mac);
	sqlite3_bind_text(st, 1, pf_key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, vf);
	if (s->set & DP_VF_SET_MAC)
		sqlite3_bind_text(st, 3, mac, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 3);
	bind_int_if(st, 4, vlan, s->vlan);
	bind_int_if(st, 5, vlan, s->qos);
	bind_int_if(st, 6, vlan, s->proto);
	bind_int_if(st, 7, s->set & DP_VF_SET_MIN_RATE, s->min_rate);
	bind_int_if(st, 8, s->set & DP_VF_SET_MAX_RATE, s->max_rate);
	bind_int_if(st, 9, s->set & DP_VF_SET_SPOOFCHK, s->spoofchk);
	bind_int_if(st, 10, s->set & DP_VF_SET_TRUST, s->trust);
	bind_int_if(st, 11, s->set & DP_VF_SET_LINK_STATE, s->link_state);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)time(NULL));
}

/* one statement merges: a setting not given keeps its stored value */
static const char put_sql[] =
	"INSERT INTO vf_settings (pf, vf, mac, vlan, qos, proto, min_rate, max_rate, spoofchk,"
	" trust, link_state, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
	" ON CONFLICT (pf, vf) DO UPDATE SET mac = coalesce(excluded.mac, mac),"
	" vlan = coalesce(excluded.vlan, vlan), qos = coalesce(excluded.qos, qos),"
	" proto = coalesce(excluded.proto, proto), min_rate = coalesce(excluded.min_rate, min_rate),"
	" max_rate = coalesce(excluded.max_rate, max_rate),"
	" spoofchk = coalesce(excluded.spoofchk, spoofchk), trust = coalesce(excluded.trust, trust),"
	" link_state = coalesce(excluded.link_state, link_state), updated_at = excluded.updated_at";

static bool table_present(sqlite3 *db)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	return sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
	                          "'vf_settings'", -1, &st, NULL) == SQLITE_OK &&
	       sqlite3_step(st) == SQLITE_ROW;
}

/* -ENOENT: nothing stored (no database, or one from before schema version 5, which only
 * a write brings up to date) */
static int store_open(unsigned flags, sqlite3 **db, int *dirfd)
{
	int r = dp_statedb_open(flags, db, dirfd);
	if (r < 0)
		return r;
	if (!*db)
		return -ENOENT;
	if (!(flags & DP_STATEDB_CREATE) && !table_present(*db)) {
		dp_statedb_close(*db, *dirfd);
		return -ENOENT;
	}
	return 0;
}

/* Runs one changing statement; bind fills its parameters. *changes: rows it changed. */
static int store_write(const char *sql, const char *what, void (*bind)(sqlite3_stmt *, const void *),
                       const void *arg, int *changes)
{
	sqlite3 *db;
	int dirfd;
	int r = store_open(DP_STATEDB_CREATE | DP_STATEDB_DURABLE, &db, &dirfd);
	if (r < 0)
		return r;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		r = dp_statedb_error(db, what);
	if (r == 0) {
		bind(st, arg);
		if (sqlite3_step(st) != SQLITE_DONE)
			r = dp_statedb_error(db, what);
		*changes = sqlite3_changes(db);
	}
	sqlite3_finalize(TAKE_PTR(st));
	dp_statedb_close(db, dirfd);
	return r;
}

struct store_key {
	const char *pf_key;
	int vf;
	const struct dp_vf_settings *s;
};

static void put_bind_key(sqlite3_stmt *st, const void *arg)
{
	const struct store_key *k = arg;
	put_bind(st, k->pf_key, k->vf, k->s);
}

int dp_vf_store_put(const char *pf_key, int vf, const struct dp_vf_settings *s)
{
	struct store_key k = {pf_key, vf, s};
	int changes;
	return store_write(put_sql, "store VF settings", put_bind_key, &k, &changes);
}

static int column_int(sqlite3_stmt *st, int col, unsigned bit, unsigned *set, int *out)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	*out = sqlite3_column_int(st, col);
	*set |= bit;
	return 1;
}

static int mac_column(sqlite3_stmt *st, struct dp_vf_settings *out)
{
	const char *text = (const char *)sqlite3_column_text(st, 2);
	if (!text)
		return 0;
	struct dp_vf_settings parsed = {0};
	if (dp_vf_setting_parse("mac", text, &parsed) < 0)
		return -EIO;   /* the message names the bad value */
	memcpy(out->mac, parsed.mac, 6);
	out->set |= DP_VF_SET_MAC;
	return 0;
}

static int row_read(sqlite3_stmt *st, struct dp_vf_settings *out)
{
	int proto = 0;
	memset(out, 0, sizeof(*out));
	column_int(st, 3, DP_VF_SET_VLAN, &out->set, &out->vlan);
	column_int(st, 4, DP_VF_SET_VLAN, &out->set, &out->qos);
	column_int(st, 5, DP_VF_SET_VLAN, &out->set, &proto);
	out->proto = (uint16_t)proto;
	column_int(st, 6, DP_VF_SET_MIN_RATE, &out->set, &out->min_rate);
	column_int(st, 7, DP_VF_SET_MAX_RATE, &out->set, &out->max_rate);
	column_int(st, 8, DP_VF_SET_SPOOFCHK, &out->set, &out->spoofchk);
	column_int(st, 9, DP_VF_SET_TRUST, &out->set, &out->trust);
	column_int(st, 10, DP_VF_SET_LINK_STATE, &out->set, &out->link_state);
	return mac_column(st, out);
}

static const char get_sql[] =
	"SELECT pf, vf, mac, vlan, qos, proto, min_rate, max_rate, spoofchk, trust, link_state"
	" FROM vf_settings WHERE pf = ?1 AND (?2 < 0 OR vf = ?2) ORDER BY vf";

struct store_rows {
	int *vfs;
	struct dp_vf_settings *s;
	size_t n, cap;
};

static int rows_add(struct store_rows *rows, sqlite3_stmt *st)
{
	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? 2 * rows->cap : 8;
		int *v = reallocarray(rows->vfs, cap, sizeof(*v));
		if (v)
			rows->vfs = v;
		struct dp_vf_settings *s = v ? reallocarray(rows->s, cap, sizeof(*s)) : NULL;
		if (!s)
			return dp_oom();
		rows->s = s;
		rows->cap = cap;
	}
	rows->vfs[rows->n] = sqlite3_column_int(st, 1);
	int r = row_read(st, &rows->s[rows->n]);
	if (r == 0)
		rows->n++;
	return r;
}

/* Runs a query and hands each row to row(); no database (or no table yet) is no rows. */
static int store_read(const char *sql, const char *pf_key, int vf,
                      int (*row)(sqlite3_stmt *, void *), void *arg)
{
	sqlite3 *db;
	int dirfd, rc = SQLITE_DONE;
	int r = store_open(0, &db, &dirfd);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		r = dp_statedb_error(db, "read VF settings");
	if (r == 0 && pf_key) {
		sqlite3_bind_text(st, 1, pf_key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, vf);
	}
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = row(st, arg);
	if (r == 0 && rc != SQLITE_DONE)
		r = dp_statedb_error(db, "read VF settings");
	sqlite3_finalize(TAKE_PTR(st));
	dp_statedb_close(db, dirfd);
	return r;
}

static int rows_add_cb(sqlite3_stmt *st, void *arg)
{
	return rows_add(arg, st);
}

static int rows_query(const char *pf_key, int vf, struct store_rows *rows)
{
	return store_read(get_sql, pf_key, vf, rows_add_cb, rows);
}

int dp_vf_store_list(const char *pf_key, int **vfs, struct dp_vf_settings **settings, size_t *n)
{
	struct store_rows rows = {0};
	int r = rows_query(pf_key, -1, &rows);
	if (r < 0) {
		free(rows.vfs);
		free(rows.s);
		return r;
	}
	*vfs = rows.vfs;
	*settings = rows.s;
	*n = rows.n;
	return 0;
}

int dp_vf_store_get(const char *pf_key, int vf, struct dp_vf_settings *out)
{
	struct store_rows rows = {0};
	int r = rows_query(pf_key, vf, &rows);
	if (r == 0 && rows.n == 0)
		r = -ENOENT;
	if (r == 0)
		*out = rows.s[0];
	free(rows.vfs);
	free(rows.s);
	return r;
}

static void delete_bind(sqlite3_stmt *st, const void *arg)
{
	const struct store_key *k = arg;
	sqlite3_bind_text(st, 1, k->pf_key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, k->vf);
}

int dp_vf_store_delete(const char *pf_key, int vf)
{
	struct store_key k = {pf_key, vf, NULL};
	int changes = 0;
	int r = store_write("DELETE FROM vf_settings WHERE pf = ?1 AND vf = ?2", "forget VF settings",
	                    delete_bind, &k, &changes);
	return r < 0 ? r : changes ? 0 : -ENOENT;
}

static int pf_add(sqlite3_stmt *st, void *arg)
{
	return dp_strv_add(arg, (const char *)sqlite3_column_text(st, 0)) < 0 ? dp_oom() : 0;
}

int dp_vf_store_pfs(struct dp_strv *out)
{
	return store_read("SELECT DISTINCT pf FROM vf_settings ORDER BY pf", NULL, 0, pf_add, out);
}
