/* mdev definitions in the state database (schema version 4): what dp_mdev_start_parent
 * creates when a parent appears, and what is imported from mdevctl's /etc/mdevctl.d. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "mdev.h"
#include "statedb/statedb.h"
#include "util/error.h"

#define MDEV_DEFS_VERSION 4

static int db_version(sqlite3 *db)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		return dp_statedb_error(db, "read the schema version");
	return sqlite3_column_int(st, 0);
}

int mdev_db_open(bool write, sqlite3 **db, int *dirfd)
{
	int r = dp_statedb_open(write ? DP_STATEDB_CREATE | DP_STATEDB_DURABLE : 0, db, dirfd);
	if (r < 0 || write || !*db)
		return r;
	int version = db_version(*db);
	if (version >= MDEV_DEFS_VERSION)
		return 0;
	mdev_db_close(*db, *dirfd);   /* older: no definitions in it yet */
	*db = NULL;
	return version < 0 ? version : 0;
}

void mdev_db_close(sqlite3 *db, int dirfd)
{
	if (db)
		dp_statedb_close(db, dirfd);
}

struct mdev_db {
	sqlite3 *db;
	int dirfd;
};
static void mdev_db_closep(struct mdev_db *d)
{
	mdev_db_close(d->db, d->dirfd);
}

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

static int def_from_row(sqlite3_stmt *st, struct dp_mdev_def *d)
{
	snprintf(d->uuid, sizeof(d->uuid), "%s", col(st, 0));
	snprintf(d->parent, sizeof(d->parent), "%s", col(st, 1));
	snprintf(d->type, sizeof(d->type), "%s", col(st, 2));
	d->auto_start = strcmp(col(st, 3), "auto") == 0;
	snprintf(d->source, sizeof(d->source), "%s", col(st, 5));
	return (d->attrs = strdup(col(st, 4))) ? 0 : dp_oom();
}

int dp_mdev_defs_read(struct dp_mdev_def_list *out)
{
	*out = (struct dp_mdev_def_list){0};
	_cleanup_(mdev_db_closep) struct mdev_db h = {NULL, -1};
	int r = mdev_db_open(false, &h.db, &h.dirfd);
	if (r < 0 || !h.db)
		return r;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(h.db, "SELECT uuid, parent, type, start, attrs, source FROM mdev_defs"
	                       " ORDER BY parent, uuid", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(h.db, "read the mdev definitions");
	_cleanup_(dp_mdev_def_list_freep) struct dp_mdev_def_list l = {0};
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (dp_array_grow(&l.d, l.n, 1, sizeof(*l.d)) < 0)
			return dp_oom();
		memset(&l.d[l.n], 0, sizeof(*l.d));
		if ((r = def_from_row(st, &l.d[l.n++])) < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return dp_statedb_error(h.db, "read the mdev definitions");
	*out = l;
	l = (struct dp_mdev_def_list){0};
	return 0;
}

void dp_mdev_def_list_free(struct dp_mdev_def_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->d[i].attrs);
	free(l->d);
	*l = (struct dp_mdev_def_list){0};
}

/* Inserts one definition; -EEXIST (said) when its uuid is defined already. */
static int def_insert(sqlite3 *db, const struct dp_mdev_def *d)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "INSERT INTO mdev_defs (uuid, parent, type, start, attrs, source,"
	                       " defined_at) VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "store the mdev definition");
	sqlite3_bind_text(st, 1, d->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->parent, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, d->auto_start ? "auto" : "manual", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, d->attrs ? d->attrs : "[]", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, d->source[0] ? d->source : "devpass", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		return dp_error_set_remedy(-EEXIST, DP_REMEDY_PARAMETER, "uuid", "mdev %s is defined "
		                           "already (on %s)", d->uuid, d->parent);
	return rc == SQLITE_DONE ? 0 : dp_statedb_error(db, "store the mdev definition");
}

int mdev_def_store(const struct dp_mdev_def *d)
{
	_cleanup_(mdev_db_closep) struct mdev_db h = {NULL, -1};
	int r = mdev_db_open(true, &h.db, &h.dirfd);
	return r < 0 ? r : def_insert(h.db, d);
}

/* An active device with this uuid must be what the definition says. */
static int def_matches_active(const struct dp_mdev_def *d)
{
	_cleanup_(dp_mdev_list_freep) struct dp_mdev_list l = {0};
	int r = dp_mdev_list_read(&l);
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		const struct dp_mdev *m = &l.m[i];
		if (strcmp(m->uuid, d->uuid) != 0 || !m->active)
			continue;
		if (strcmp(m->parent, d->parent) || strcmp(m->type, d->type))
			return dp_error_set_remedy(-EEXIST, DP_REMEDY_PARAMETER, "uuid", "mdev %s is "
			                           "active as a %s on %s, not a %s on %s", d->uuid,
			                           m->type, m->parent, d->type, d->parent);
	}
	return r;
}

static int def_known_type(const char *parent, const char *type)
{
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list l = {0};
	/* a parent that is absent now may appear later (that is what definitions are for) */
	if (dp_mdev_types_read(parent, &l) == -ENOENT)
		return 0;
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.t[i].type, type) == 0)
			return 0;
	return dp_error_set_remedy(-ENOENT, DP_REMEDY_PARAMETER, "type", "parent %s has no mdev "
	                           "type %s", parent, type);
}

int dp_mdev_define(const char *parent, const char *type, const char *uuid, bool auto_start,
                   char uuid_out[37])
{
	struct dp_mdev_def d = {.auto_start = auto_start, .source = "devpass"};
	int r = mdev_name_check("parent", parent, sizeof(d.parent));
	if (r >= 0)
		r = mdev_name_check("type", type, sizeof(d.type));
	if (r >= 0)
		r = uuid ? mdev_uuid_normalize(uuid, d.uuid) : mdev_uuid_new(d.uuid);
	if (r < 0 || (r = def_known_type(parent, type)) < 0)
		return r;
	/* a VF's vGPU is no mdev with a uuid; its type resets when the VFs are re-created */
	if (mdev_vf_layout(parent))
		return dp_error_set_remedy(-EOPNOTSUPP, DP_REMEDY_PARAMETER, "parent", "%s has "
		                           "NVIDIA's VF vGPU layout: its vGPUs have no uuid and cannot "
		                           "be defined, only created", parent);
	snprintf(d.parent, sizeof(d.parent), "%s", parent);
	snprintf(d.type, sizeof(d.type), "%s", type);
	if ((r = def_matches_active(&d)) < 0 || (r = mdev_def_store(&d)) < 0)
		return r;
	snprintf(uuid_out, 37, "%s", d.uuid);
	return 0;
}

int dp_mdev_undefine(const char *uuid)
{
	char id[37];
	int r = mdev_uuid_normalize(uuid, id);
	if (r < 0)
		return r;
	_cleanup_(mdev_db_closep) struct mdev_db h = {NULL, -1};
	if ((r = mdev_db_open(true, &h.db, &h.dirfd)) < 0)
		return r;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(h.db, "DELETE FROM mdev_defs WHERE uuid = ?", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(h.db, "remove the mdev definition");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return dp_statedb_error(h.db, "remove the mdev definition");
	if (sqlite3_changes(h.db) == 0)
		return dp_error_set(-ENOENT, "no mdev definition with uuid %s", id);
	return 0;
}
