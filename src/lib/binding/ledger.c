/* The ledger: the driver and driver_override each device had before devpass first
 * changed it, in SQLite under ROOT/var/lib/devpass. A row is written (and synced by
 * SQLite's journal) before the first write to the device, so a crash at any later point
 * leaves what `devpass restore` needs. */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binding/binding.h"
#include "fs/sysroot.h"
#include "statedb/statedb.h"

struct dp_ledger {
	sqlite3 *db;
	int dirfd;   /* the state directory, opened inside the root */
};

static int ledger_error(struct dp_ledger *l, const char *what)
{
	return dp_statedb_error(l->db, what);
}

int dp_ledger_open(struct dp_ledger **out, bool create)
{
	sqlite3 *db;
	int dirfd;
	*out = NULL;
	int r = dp_statedb_open(create ? DP_STATEDB_CREATE : 0, &db, &dirfd);
	if (r < 0 || !db)
		return r;
	struct dp_ledger *l = calloc(1, sizeof(*l));
	if (!l) {
		dp_statedb_close(db, dirfd);
		return dp_oom();
	}
	l->db = db;
	l->dirfd = dirfd;
	*out = l;
	return 0;
}

void dp_ledger_close(struct dp_ledger *l)
{
	if (!l)
		return;
	dp_statedb_close(l->db, l->dirfd);
	free(l);
}

int dp_ledger_record(struct dp_ledger *l, const struct dp_pci_device *dev,
                     const char *override, bool *created)
{
	sqlite3_stmt *st;
	char vendor[8], device[8];
	snprintf(vendor, sizeof(vendor), "%04x", dev->vendor);
	snprintf(device, sizeof(device), "%04x", dev->device);
	if (sqlite3_prepare_v2(l->db,
	        "INSERT OR IGNORE INTO devices VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &st, NULL) != SQLITE_OK)
		return ledger_error(l, "prepare");
	sqlite3_bind_text(st, 1, dev->address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, dev->driver, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, override, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, vendor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return ledger_error(l, "record");
	*created = sqlite3_changes(l->db) > 0;
	return 0;
}

int dp_ledger_get(struct dp_ledger *l, const char *address, char *driver, size_t dsize,
                  char *override, size_t osize)
{
	sqlite3_stmt *st;
	if (!l)
		return 0;
	if (sqlite3_prepare_v2(l->db, "SELECT original_driver, original_override FROM devices "
	                              "WHERE address = ?1", -1, &st, NULL) != SQLITE_OK)
		return ledger_error(l, "prepare");
	sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(driver, dsize, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(override, osize, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return ledger_error(l, "read");   /* busy or damaged: not "never recorded" */
	return rc == SQLITE_ROW;
}

int dp_ledger_forget(struct dp_ledger *l, const char *address)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(l->db, "DELETE FROM devices WHERE address = ?1", -1, &st, NULL) != SQLITE_OK)
		return ledger_error(l, "prepare");
	sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : ledger_error(l, "forget");
}

int dp_ledger_addresses(struct dp_ledger *l, struct dp_strv *out)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (!l)
		return 0;
	if (sqlite3_prepare_v2(l->db, "SELECT address FROM devices ORDER BY address", -1, &st, NULL) != SQLITE_OK)
		return ledger_error(l, "prepare");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (dp_strv_add(out, (const char *)sqlite3_column_text(st, 0)) < 0)
			return dp_oom();
	return rc == SQLITE_DONE ? 0 : ledger_error(l, "list");
}

int dp_ledger_begin(struct dp_ledger *l)
{
	return sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0
	       : ledger_error(l, "begin");
}

int dp_ledger_commit(struct dp_ledger *l)
{
	return sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0
	       : ledger_error(l, "commit");
}

/* What list and show print as "was": one query over the records, not one per function. */
static void original_set(char *out, const char *driver)
{
	snprintf(out, 64, "%s", *driver ? driver : "(none)");
}

void dp_ledger_original_drivers(const struct dp_pci_list *list, char (*out)[64])
{
	struct dp_ledger *l = NULL;
	sqlite3_stmt *st;
	for (size_t i = 0; i < list->n; i++)
		out[i][0] = '\0';
	if (dp_ledger_open(&l, false) < 0 || !l)
		return;
	if (sqlite3_prepare_v2(l->db, "SELECT address, original_driver FROM devices", -1, &st,
	                       NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const struct dp_pci_device *dev =
				dp_pci_list_find(list, (const char *)sqlite3_column_text(st, 0));
			if (dev)
				original_set(out[dev - list->dev], (const char *)sqlite3_column_text(st, 1));
		}
		sqlite3_finalize(st);
	}
	dp_ledger_close(l);
}

void dp_ledger_original_driver(const char *address, char out[64])
{
	struct dp_ledger *l = NULL;
	char driver[64], override[64];
	out[0] = '\0';
	if (dp_ledger_open(&l, false) < 0 || !l)
		return;
	if (dp_ledger_get(l, address, driver, sizeof(driver), override, sizeof(override)) == 1)
		original_set(out, driver);
	dp_ledger_close(l);
}
