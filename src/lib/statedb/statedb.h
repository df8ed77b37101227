/* The SQLite state database under ROOT/var/lib/devpass. */
#ifndef DP_STATEDB_H
#define DP_STATEDB_H

#include <sqlite3.h>
#include <stdbool.h>

#include "devpass.h"
#include "alloc-util.h"

#define DP_STATEDB_DIR "var/lib/devpass"
#define DP_STATEDB_PATH DP_STATEDB_DIR "/devpass.db"

#define DP_STATEDB_CREATE 0x1    /* create the file, bring the schema up to date */
#define DP_STATEDB_DURABLE 0x2   /* sync every commit (files outside /sys depend on it) */
/* Opens the database (for reading unless DP_STATEDB_CREATE). Without create and without
 * a database, *db is NULL and the call succeeds. Foreign keys are on, the busy timeout
 * 30 s. *dirfd keeps the directory open for SQLite's /proc/self/fd path. */
int dp_statedb_open(unsigned flags, sqlite3 **db, int *dirfd);
void dp_statedb_close(sqlite3 *db, int dirfd);
/* Closes the connection this process keeps open between users (none in a transaction may
 * be left): before a fork whose child opens the database, since SQLite shares a file's
 * WAL index among the connections of a process, and the child's new connection would use
 * the inherited (or closed) descriptors of the parent's. */
void dp_statedb_cache_drop(void);
/* Records "devpass state database ...: what: sqlite's message"; returns -EIO. */
int dp_statedb_error(sqlite3 *db, const char *what);
/* Runs sql; on failure records "...: what: sqlite's message" and returns -EIO. */
int dp_statedb_exec(sqlite3 *db, const char *sql, const char *what);
int dp_statedb_version(void);   /* the schema version this devpass writes */

/* _cleanup_(sqlite3_finalizep) sqlite3_stmt *st: finalized on every return */
DEFINE_CLEANUP_PTR(sqlite3_stmt, sqlite3_finalize, sqlite3_finalizep)
/* _cleanup_(sqlite3_closep) sqlite3 *db: closed on every return (sqlite3_close(NULL) is a no-op) */
DEFINE_CLEANUP_PTR(sqlite3, sqlite3_close, sqlite3_closep)

#endif
