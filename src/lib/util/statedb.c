/* devpass's state database: one SQLite file under ROOT/var/lib/devpass shared by the
 * binding ledger and the journal of files devpass wrote. Each user creates its own tables. */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/sysroot.h"
#include "util/statedb.h"

int dp_statedb_error(sqlite3 *db, const char *what)
{
	return dp_error_set(-EIO, "devpass state database /%s: %s: %s", DP_STATEDB_PATH, what,
	                    db ? sqlite3_errmsg(db) : "cannot open");
}

int dp_statedb_open(bool create, const char *schema, sqlite3 **db_out, int *dirfd_out)
{
	char dir[64], path[PATH_MAX];
	*db_out = NULL;
	*dirfd_out = -1;
	if (!create && !dp_fs_exists(DP_STATEDB_PATH))
		return 0;   /* nothing recorded yet: callers treat no database as empty */
	int r = create ? dp_fs_mkdir_p(DP_STATEDB_DIR, 0755) : 0;
	if (r < 0)
		return dp_error_set(r, "cannot create /%s: %s", DP_STATEDB_DIR, strerror(-r));
	if ((r = dp_fs_dir_handle_path(DP_STATEDB_DIR, dirfd_out, dir, sizeof(dir))) < 0)
		return dp_error_set(r, "cannot open /%s: %s", DP_STATEDB_DIR, strerror(-r));
	snprintf(path, sizeof(path), "%s/devpass.db", dir);
	int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		r = dp_statedb_error(db, "open");
		goto fail;
	}
	sqlite3_busy_timeout(db, 30000);
	if (create && sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
		r = dp_statedb_error(db, "pragma");
		goto fail;
	}
	if (create && schema && sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		r = dp_statedb_error(db, "create tables");
		goto fail;
	}
	*db_out = db;
	return 0;
fail:
	sqlite3_close(db);
	close(*dirfd_out);
	*dirfd_out = -1;
	return r;
}

void dp_statedb_close(sqlite3 *db, int dirfd)
{
	sqlite3_close(db);
	if (dirfd >= 0)
		close(dirfd);
}
