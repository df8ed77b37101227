/* devpass's state database: one SQLite file under ROOT/var/lib/devpass holding the binding
 * ledger, the journal of files devpass wrote, and the pools with their rules, members and
 * claims. The schema lives here alone, as numbered migrations: PRAGMA user_version says
 * which have run, so an older database is brought forward when it is first opened for
 * writing, and a newer one (from a later devpass) is refused rather than misread. */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/sysroot.h"
#include "statedb/statedb.h"

/* Migration N takes a database at version N-1 to version N. Version 1 is what the ledger
 * and the journal created before versions existed: IF NOT EXISTS adopts such a database. */
static const char *const migrations[] = {
	/* 1: binding ledger, file journal */
	"CREATE TABLE IF NOT EXISTS devices ("
	" address TEXT PRIMARY KEY, original_driver TEXT NOT NULL,"
	" original_override TEXT NOT NULL, vendor TEXT, device TEXT, recorded_at INTEGER);"
	"CREATE TABLE IF NOT EXISTS files ("
	" path TEXT PRIMARY KEY, feature TEXT NOT NULL, existed INTEGER NOT NULL,"
	" before BLOB, before_mode INTEGER, written BLOB, written_mode INTEGER,"
	" written_at INTEGER);"
	"CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY, feature TEXT NOT NULL);",
	/* 2: resource pools */
	"CREATE TABLE pools ("
	" id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" type TEXT NOT NULL CHECK (type IN ('pci', 'sriov-vf', 'usb', 'mdev')),"
	" description TEXT NOT NULL DEFAULT '',"
	" on_release TEXT NOT NULL DEFAULT 'restore'"
	"  CHECK (on_release IN ('restore', 'keep-vfio', 'quarantine')),"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE rules ("
	" id INTEGER PRIMARY KEY,"
	" pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
	" position INTEGER NOT NULL, text TEXT NOT NULL, UNIQUE (pool_id, text));"
	/* the identity a device had when it joined: checked again at every claim */
	"CREATE TABLE members ("
	" pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
	" address TEXT NOT NULL, vendor INTEGER NOT NULL, device INTEGER NOT NULL,"
	" subsys_vendor INTEGER, subsys_device INTEGER, class INTEGER NOT NULL,"
	" serial TEXT NOT NULL DEFAULT '', dsn TEXT NOT NULL DEFAULT '',"
	" numa INTEGER, physfn TEXT NOT NULL DEFAULT '', sriov_total INTEGER,"
	" joined_at INTEGER NOT NULL, PRIMARY KEY (pool_id, address));"
	/* one row per claimed function: the primary key is what makes a double claim impossible */
	"CREATE TABLE claims ("
	" address TEXT PRIMARY KEY,"
	" pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE RESTRICT,"
	" member TEXT NOT NULL, owner TEXT NOT NULL, pid INTEGER NOT NULL,"
	" pid_start INTEGER NOT NULL, claimed_at INTEGER NOT NULL);"
	"CREATE INDEX claims_owner ON claims (owner);"
	"CREATE TABLE quarantine ("
	" address TEXT PRIMARY KEY,"
	" pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE RESTRICT,"
	" owner TEXT NOT NULL, since INTEGER NOT NULL);",
	/* 3: virtual machines: definitions (JSON, the dp_vm_def fields), the current run, and
	 * the devices a run took by name (pool members are claims); the primary key on the
	 * address is what makes two VMs taking one device impossible */
	"CREATE TABLE vms ("
	" name TEXT PRIMARY KEY, definition TEXT NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE TABLE vm_runs ("
	" name TEXT PRIMARY KEY REFERENCES vms(name) ON DELETE CASCADE,"
	" state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'stopping')),"
	" qemu_pid INTEGER NOT NULL DEFAULT 0, supervisor_pid INTEGER NOT NULL DEFAULT 0,"
	" started_at INTEGER NOT NULL);"
	"CREATE TABLE vm_devices ("
	" address TEXT PRIMARY KEY, vm TEXT NOT NULL REFERENCES vms(name) ON DELETE RESTRICT,"
	" pool TEXT NOT NULL DEFAULT '', driver_before TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE vm_exits (name TEXT PRIMARY KEY REFERENCES vms(name) ON DELETE CASCADE,"
	" ended_at INTEGER NOT NULL, how TEXT NOT NULL);",
	/* 4: mediated device definitions (like mdevctl's): started when their parent appears
	 * (auto) or on request (manual); attrs is a JSON array of one-key objects written in
	 * order after create; source says whether devpass made it or imported mdevctl's */
	"CREATE TABLE mdev_defs ("
	" uuid TEXT PRIMARY KEY, parent TEXT NOT NULL, type TEXT NOT NULL,"
	" start TEXT NOT NULL CHECK (start IN ('auto', 'manual')),"
	" attrs TEXT NOT NULL DEFAULT '[]',"
	" source TEXT NOT NULL DEFAULT 'devpass' CHECK (source IN ('devpass', 'mdevctl')),"
	" defined_at INTEGER NOT NULL);"
	"CREATE INDEX mdev_defs_parent ON mdev_defs(parent);",

	/* 5: SR-IOV VF settings, re-applied whenever the VFs are re-created; keyed by the PF's
	 * stable identity (PCI address, or netdev name for a PF that is not PCI) and the VF
	 * number; NULL is "not set" (the kernel's value stays) */
	"CREATE TABLE vf_settings ("
	" pf TEXT NOT NULL, vf INTEGER NOT NULL CHECK (vf >= 0),"
	" mac TEXT, vlan INTEGER CHECK (vlan BETWEEN 0 AND 4095), qos INTEGER CHECK (qos BETWEEN 0 AND 7),"
	" proto INTEGER, min_rate INTEGER, max_rate INTEGER,"
	" spoofchk INTEGER, trust INTEGER, link_state INTEGER,"
	" updated_at INTEGER NOT NULL, PRIMARY KEY (pf, vf));",

	/* 6: claims of the kinds that are not PCI functions, keyed by what the member is rather
	 * than where: usb "vvvv:pppp:SERIAL" (or "vvvv:pppp@PORT" without a serial), so a claim
	 * survives a replug and a reboot; mdev the UUID devpass created. place: the port or the
	 * parent when claimed, detail: the mdev type. Pool tags (sriov-vf physnet=...) and the
	 * VF settings a claim asked for, undone at release. */
	"CREATE TABLE unit_claims ("
	" kind TEXT NOT NULL CHECK (kind IN ('usb', 'mdev')), unit TEXT NOT NULL,"
	" pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE RESTRICT,"
	" owner TEXT NOT NULL, pid INTEGER NOT NULL, pid_start INTEGER NOT NULL,"
	" claimed_at INTEGER NOT NULL, place TEXT NOT NULL DEFAULT '',"
	" detail TEXT NOT NULL DEFAULT '', PRIMARY KEY (kind, unit));"
	"CREATE INDEX unit_claims_owner ON unit_claims (owner);"
	"CREATE TABLE pool_tags ("
	" pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,"
	" key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (pool_id, key));"
	"CREATE TABLE claim_vf_settings ("
	" address TEXT PRIMARY KEY REFERENCES claims(address) ON DELETE CASCADE,"
	" mac TEXT NOT NULL DEFAULT '', vlan INTEGER NOT NULL DEFAULT -1);",

	/* 7: reserved for the libvirt domains devpass attached devices to */
	"SELECT 1;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

int dp_statedb_error(sqlite3 *db, const char *what)
{
	int code = db ? sqlite3_errcode(db) & 0xff : SQLITE_CANTOPEN;
	bool access = code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM;
	return dp_error_set(access ? -EACCES : -EIO, "devpass state database /%s: %s: %s%s",
	                    DP_STATEDB_PATH, what, db ? sqlite3_errmsg(db) : "cannot open",
	                    access ? " (is it yours to write? devpass changes run as root)" : "");
}

int dp_statedb_exec(sqlite3 *db, const char *sql, const char *what)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : dp_statedb_error(db, what);
}

static int schema_version(sqlite3 *db, int *version)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "read the schema version");
	int rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	return rc == SQLITE_ROW ? 0 : dp_statedb_error(db, "read the schema version");
}

static int schema_newer_error(int version)
{
	return dp_error_set(-EPROTO, "devpass state database /%s has schema version %d; this "
	                    "devpass knows versions up to %d: use the newer devpass that wrote it",
	                    DP_STATEDB_PATH, version, SCHEMA_VERSION);
}

/* Takes the database from version `from` to the current one, inside the caller's transaction. */
static int schema_run_migrations(sqlite3 *db, int from)
{
	for (int v = from; v < SCHEMA_VERSION; v++) {
		char sql[64];
		int r = dp_statedb_exec(db, migrations[v], "update the schema");
		if (r < 0)
			return r;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if ((r = dp_statedb_exec(db, sql, "update the schema version")) < 0)
			return r;
	}
	return 0;
}

/* Runs the migrations the database lacks, in one transaction: a crash leaves the old
 * version whole. Several processes may race here; BEGIN IMMEDIATE makes one do it. */
static int schema_migrate(sqlite3 *db)
{
	int version, r = schema_version(db, &version);
	if (r < 0 || version == SCHEMA_VERSION)
		return r;
	if (version > SCHEMA_VERSION)
		return schema_newer_error(version);
	if ((r = dp_statedb_exec(db, "BEGIN IMMEDIATE", "begin the schema update")) < 0)
		return r;
	r = schema_version(db, &version);   /* another process may have done it meanwhile */
	if (r == 0)
		r = schema_run_migrations(db, version);
	if (r < 0) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	return dp_statedb_exec(db, "COMMIT", "commit the schema update");
}

/* Waiting for another writer: SQLite's own busy timeout sleeps in steps of up to 100 ms,
 * far longer than a claim holds the lock (a fraction of a millisecond), so 8 claiming
 * processes would mostly sleep. Short sleeps, growing slowly; 30 s in all. */
static int busy_wait(void *ctx, int count)
{
	(void)ctx;
	static const long step_us[] = {20, 50, 100, 200, 500, 1000};
	long us = step_us[count < 60 ? count / 10 : 5];
	long waited = count < 60 ? 0 : 60 * 300;
	if (count >= 60)
		waited += (long)(count - 60) * 1000;
	if (waited > 30L * 1000 * 1000)
		return 0;   /* give up: the caller reports "database is locked" */
	usleep((useconds_t)us);
	return 1;
}

/* WAL lets readers go on while a claim writes; NORMAL syncs at checkpoints only, which
 * is enough for the ledger and the claims (a power loss resets the bindings they
 * describe too). The journal of /etc files asks for FULL: those files survive it. */
static int connection_setup(sqlite3 *db, unsigned flags)
{
	int r = dp_statedb_exec(db, "PRAGMA foreign_keys = ON", "turn foreign keys on");
	if (r < 0 || !(flags & DP_STATEDB_CREATE))
		return r;
	if ((r = dp_statedb_exec(db, "PRAGMA journal_mode = WAL", "turn write-ahead logging on")) < 0)
		return r;
	r = dp_statedb_exec(db, flags & DP_STATEDB_DURABLE ? "PRAGMA synchronous = FULL"
	                                                   : "PRAGMA synchronous = NORMAL",
	                    "set synchronous");
	return r < 0 ? r : schema_migrate(db);
}

/* One connection per process and root, kept open: opening one means reading the schema
 * again, a third of a claim's time. A forked child opens its own (SQLite connections do
 * not survive fork), and a state directory replaced under the same path (tests remove
 * their trees) is noticed by its inode. Durable connections (the file journal) are
 * never shared: their synchronous setting is their own. */
static struct {
	sqlite3 *db;
	int dirfd;
	pid_t pid;
	char root[PATH_MAX];
	dev_t dev;
	ino_t ino;
} cache = {.dirfd = -1};

static void cache_drop(void)
{
	if (cache.db && cache.pid == getpid()) {
		sqlite3_close(cache.db);
		close(cache.dirfd);
	}
	cache.db = NULL;
	cache.dirfd = -1;
}

void dp_statedb_cache_drop(void)
{
	cache_drop();
}

/* A cached connection inside a transaction belongs to that transaction's user: a second
 * user (and its close) would end it. It gets a connection of its own instead. */
static bool cache_fits(const struct stat *st)
{
	return cache.db && cache.pid == getpid() && strcmp(cache.root, dp_root_path()) == 0 &&
	       cache.dev == st->st_dev && cache.ino == st->st_ino && sqlite3_get_autocommit(cache.db);
}

static void cache_keep(sqlite3 *db, int dirfd)
{
	struct stat st;
	static bool registered;
	if (dp_fs_stat(DP_STATEDB_PATH, &st) < 0)
		return;
	cache_drop();
	cache.db = db;
	cache.dirfd = dirfd;
	cache.pid = getpid();
	snprintf(cache.root, sizeof(cache.root), "%s", dp_root_path());
	cache.dev = st.st_dev;
	cache.ino = st.st_ino;
	if (!registered)
		atexit(cache_drop);
	registered = true;
}

static int statedb_open_new(unsigned flags, sqlite3 **db_out, int *dirfd_out);

int dp_statedb_open(unsigned flags, sqlite3 **db_out, int *dirfd_out)
{
	struct stat st;
	bool shared = !(flags & DP_STATEDB_DURABLE);
	if (shared && dp_fs_stat(DP_STATEDB_PATH, &st) == 0 && cache_fits(&st)) {
		*db_out = cache.db;
		*dirfd_out = -1;   /* the cache keeps its own */
		return 0;
	}
	int r = statedb_open_new(flags, db_out, dirfd_out);
	bool busy_cache = cache.db && cache.pid == getpid() && !sqlite3_get_autocommit(cache.db);
	if (r == 0 && *db_out && shared && (flags & DP_STATEDB_CREATE) && !busy_cache) {
		cache_keep(*db_out, *dirfd_out);
		*dirfd_out = -1;
	}
	return r;
}

/* Opens the database file in the state directory dir (a /proc/self/fd path): read-write
 * when it may, since a reader of a WAL database writes its shared-memory index. */
static sqlite3 *statedb_connect(const char *dir, bool create)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/devpass.db", dir);
	int mode = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, mode, NULL) != SQLITE_OK && !create) {
		sqlite3_close(db);
		db = NULL;
		sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	}
	return db;
}

static int statedb_open_new(unsigned flags, sqlite3 **db_out, int *dirfd_out)
{
	char dir[64];
	bool create = flags & DP_STATEDB_CREATE;
	*db_out = NULL;
	*dirfd_out = -1;
	if (!create && !dp_fs_exists(DP_STATEDB_PATH))
		return 0;   /* nothing recorded yet: callers treat no database as empty */
	int r = create ? dp_fs_mkdir_p(DP_STATEDB_DIR, 0755) : 0;
	if (r < 0)
		return dp_error_set(r, "cannot create /%s: %s", DP_STATEDB_DIR, strerror(-r));
	_cleanup_close_ int dirfd = -1;
	if ((r = dp_fs_dir_handle_path(DP_STATEDB_DIR, &dirfd, dir, sizeof(dir))) < 0)
		return dp_error_set(r, "cannot open /%s: %s", DP_STATEDB_DIR, strerror(-r));
	_cleanup_(sqlite3_closep) sqlite3 *db = statedb_connect(dir, create);
	if (!db || sqlite3_errcode(db) != SQLITE_OK)
		return dp_statedb_error(db, "open");
	sqlite3_busy_handler(db, busy_wait, NULL);
	if ((r = connection_setup(db, flags)) < 0)
		return r;
	*db_out = TAKE_PTR(db);
	*dirfd_out = TAKE_FD(dirfd);
	return 0;
}

void dp_statedb_close(sqlite3 *db, int dirfd)
{
	if (db && db == cache.db) {
		/* kept for the next user: without a transaction or statement left behind */
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	sqlite3_close(db);
	if (dirfd >= 0)
		close(dirfd);
}

int dp_statedb_version(void)
{
	return SCHEMA_VERSION;
}
