/* Internal: the pools' database and their definitions as stored (the layer below the
 * view, which joins them with the inventory). */
#ifndef DP_POOLS_DB_H
#define DP_POOLS_DB_H

#include <sqlite3.h>

#include "devpass.h"
#include "alloc-util.h"

/* db.c — the database and the pools' definitions */
struct pool_db {
	sqlite3 *db;                 /* NULL: no database yet (nothing defined) */
	int dirfd;
};
/* write: create the database if needed. Reading works without one (db stays NULL). */
int pool_db_open(struct pool_db *p, bool write);
void pool_db_close(struct pool_db *p);
int pool_db_begin(struct pool_db *p);   /* BEGIN IMMEDIATE: one writer at a time */
int pool_db_commit(struct pool_db *p);
void pool_db_rollback(struct pool_db *p);
/* prepare + bind text/int parameters from a format: "s" text, "i" int64; NULL on error */
sqlite3_stmt *pool_db_query(struct pool_db *p, const char *sql, const char *types, ...);
int pool_db_run(struct pool_db *p, const char *what, const char *sql, const char *types, ...);

struct pool_def {
	long long id;
	struct dp_pool pool;
	struct dp_rule *rules;       /* parsed pool.rules */
	size_t nrules;
};
struct pool_defs {
	struct pool_def *d;
	size_t n;
};
int pool_defs_load(struct pool_db *p, struct pool_defs *out);
void pool_defs_free(struct pool_defs *defs);
struct pool_def *pool_defs_find(const struct pool_defs *defs, const char *name);
/* -ENOENT with "no pool named NAME" */
int pool_missing_error(const char *name);
/* 0, or -ENOMEM with dst holding nothing to free */
int pool_copy(struct dp_pool *dst, const struct dp_pool *src);
void pool_free(struct dp_pool *pool);

/* Whether a claim's process still runs (pid 0: a claim without one, always); its start
 * time from /proc, which tells a recycled pid apart. */
bool pid_alive(int pid, long long start);
long long pid_start_time(int pid);

DEFINE_CLEANUP_STRUCT(pool_db, pool_db_close)
DEFINE_CLEANUP_STRUCT(pool_defs, pool_defs_free)
/* a pool_db that owns nothing yet, for _cleanup_(pool_db_closep) */
#define POOL_DB_NULL ((struct pool_db){.db = NULL, .dirfd = -1})

#endif
