/* The SQLite state database under ROOT/var/lib/devpass. */
#ifndef DP_STATEDB_H
#define DP_STATEDB_H

#include <sqlite3.h>
#include <stdbool.h>

#include "devpass.h"

#define DP_STATEDB_DIR "var/lib/devpass"
#define DP_STATEDB_PATH DP_STATEDB_DIR "/devpass.db"

/* Opens the database (read-only unless create) and, with create, runs schema (CREATE
 * TABLE IF NOT EXISTS ...). Without create and without a database, *db is NULL and the
 * call succeeds. *dirfd keeps the directory open for SQLite's /proc/self/fd path. */
int dp_statedb_open(bool create, const char *schema, sqlite3 **db, int *dirfd);
void dp_statedb_close(sqlite3 *db, int dirfd);
/* Records "devpass state database ...: what: sqlite's message"; returns -EIO. */
int dp_statedb_error(sqlite3 *db, const char *what);

#endif
