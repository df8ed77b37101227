/* The journal of files devpass wrote: for each path, the bytes and mode it had before
 * devpass first touched it (or that it did not exist) and what devpass last wrote. Undo
 * puts back the original only while the file still holds what devpass wrote: a file the
 * admin edited since is left alone and reported. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/sysroot.h"
#include "persist/persist.h"
#include "statedb/statedb.h"

struct journal {
	sqlite3 *db;
	int dirfd;
};

static int journal_open(struct journal *j, bool create)
{
	/* files outside /sys outlive a power loss: so must the record of what they were */
	return dp_statedb_open(create ? DP_STATEDB_CREATE | DP_STATEDB_DURABLE : 0, &j->db, &j->dirfd);
}

static void journal_close(struct journal *j)
{
	dp_statedb_close(j->db, j->dirfd);
}

static bool has_table(sqlite3 *db)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'files'", -1, &st,
	                       NULL) != SQLITE_OK)
		return false;
	bool yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

static char *blob_dup(sqlite3_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(st, col);
	*len = (size_t)sqlite3_column_bytes(st, col);
	char *out = malloc(*len + 1);
	if (*len)
		memcpy(out, p, *len);
	out[*len] = '\0';
	return out;
}

static int list_dirs(sqlite3 *db, const char *feature, struct dp_strv *out)
{
	sqlite3_stmt *st;
	/* deepest first, so that a parent is tried after its children */
	if (sqlite3_prepare_v2(db, "SELECT path FROM dirs WHERE feature = ?1 "
	                           "ORDER BY length(path) DESC, path", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "list directories");
	sqlite3_bind_text(st, 1, feature, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		dp_strv_add(out, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return 0;
}

int dp_journal_list(const char *feature, struct dp_journal_list *out)
{
	struct journal j;
	memset(out, 0, sizeof(*out));
	int r = journal_open(&j, false);
	if (r < 0 || !j.db)
		return r;
	sqlite3_stmt *st;
	if (!has_table(j.db))
		goto done;
	if (sqlite3_prepare_v2(j.db, "SELECT path, existed, before, before_mode, written FROM files "
	                             "WHERE feature = ?1 ORDER BY path", -1, &st, NULL) != SQLITE_OK) {
		r = dp_statedb_error(j.db, "list files");
		goto done;
	}
	sqlite3_bind_text(st, 1, feature, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		out->f = realloc(out->f, (out->n + 1) * sizeof(*out->f));
		struct dp_journal_file *f = &out->f[out->n++];
		f->path = strdup((const char *)sqlite3_column_text(st, 0));
		f->existed = sqlite3_column_int(st, 1) != 0;
		f->before = blob_dup(st, 2, &f->before_len);
		f->before_mode = (unsigned)sqlite3_column_int(st, 3);
		f->written = blob_dup(st, 4, &f->written_len);
	}
	sqlite3_finalize(st);
	r = list_dirs(j.db, feature, &out->dirs);
done:
	journal_close(&j);
	return r;
}

void dp_journal_list_free(struct dp_journal_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->f[i].path);
		free(l->f[i].before);
		free(l->f[i].written);
	}
	free(l->f);
	dp_strv_free(&l->dirs);
	memset(l, 0, sizeof(*l));
}

static int exec_bound(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : dp_statedb_error(db, what);
}

/* The original is recorded once (INSERT OR IGNORE); what devpass wrote, every time. */
static int record_file(sqlite3 *db, const char *feature, const struct dp_file_change *c)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO files (path, feature, existed, before, "
	                           "before_mode) VALUES (?1, ?2, ?3, ?4, ?5)", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "prepare");
	sqlite3_bind_text(st, 1, c->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, feature, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, c->op != DP_FILE_CREATE);
	if (c->before)
		sqlite3_bind_blob(st, 4, c->before, (int)c->before_len, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)c->before_mode);
	int r = exec_bound(db, st, "record a file");
	if (r < 0)
		return r;
	if (sqlite3_prepare_v2(db, "UPDATE files SET written = ?2, written_mode = ?3, written_at = ?4 "
	                           "WHERE path = ?1", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "prepare");
	sqlite3_bind_text(st, 1, c->path, -1, SQLITE_STATIC);
	if (c->after)
		sqlite3_bind_blob(st, 2, c->after, (int)c->after_len, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)c->mode);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	return exec_bound(db, st, "record a file");
}

static int record_dir(sqlite3 *db, const char *feature, const char *path)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO dirs VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "prepare");
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, feature, -1, SQLITE_STATIC);
	return exec_bound(db, st, "record a directory");
}

int dp_journal_record(const struct dp_changeset *cs)
{
	struct journal j;
	int r = journal_open(&j, true);
	if (r < 0)
		return r;
	if (sqlite3_exec(j.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = dp_statedb_error(j.db, "begin");
		goto done;
	}
	for (size_t i = 0; r == 0 && i < cs->n; i++)
		if (!cs->files[i].restore)
			r = record_file(j.db, cs->feature, &cs->files[i]);
	for (size_t i = 0; r == 0 && i < cs->mkdirs.n; i++)
		r = record_dir(j.db, cs->feature, cs->mkdirs.v[i]);
	if (sqlite3_exec(j.db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK && r == 0)
		r = dp_statedb_error(j.db, "commit");
done:
	journal_close(&j);
	return r;
}

/* Is the file as it was before devpass (content and mode, or absent)? */
static bool file_is_original(const struct dp_journal_file *f)
{
	char *now = NULL;
	size_t len = 0;
	struct stat st;
	if (dp_fs_read_all(f->path, &now, &len) < 0)
		return !f->existed;
	bool same = f->existed && len == f->before_len && memcmp(now, f->before, len) == 0 &&
	            dp_fs_stat(f->path, &st) == 0 && (st.st_mode & 07777) == f->before_mode;
	free(now);
	return same;
}

static int forget(sqlite3 *db, const char *table, const char *path)
{
	sqlite3_stmt *st;
	char sql[64];
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE path = ?1", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "prepare");
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	return exec_bound(db, st, "forget");
}

int dp_journal_settle(const struct dp_changeset *cs)
{
	struct dp_journal_list l;
	int r = dp_journal_list(cs->feature, &l);
	if (r < 0 || (!l.n && !l.dirs.n)) {
		dp_journal_list_free(&l);
		return r;
	}
	struct journal j;
	if ((r = journal_open(&j, true)) < 0) {
		dp_journal_list_free(&l);
		return r;
	}
	for (size_t i = 0; r == 0 && i < l.n; i++)
		if (file_is_original(&l.f[i]))
			r = forget(j.db, "files", l.f[i].path);
	for (size_t i = 0; r == 0 && i < l.dirs.n; i++)
		if (!dp_fs_exists(l.dirs.v[i]))
			r = forget(j.db, "dirs", l.dirs.v[i]);
	journal_close(&j);
	dp_journal_list_free(&l);
	return r;
}

static void stage_restore(struct dp_changeset *cs, const struct dp_journal_file *f,
                          char *now, size_t len)
{
	cs->files = realloc(cs->files, (cs->n + 1) * sizeof(*cs->files));
	struct dp_file_change *c = &cs->files[cs->n++];
	memset(c, 0, sizeof(*c));
	struct stat st;
	c->path = strdup(f->path);
	c->restore = true;
	c->before = now;
	c->before_len = len;
	c->before_mode = dp_fs_stat(f->path, &st) == 0 ? (st.st_mode & 07777) : 0644;
	if (f->existed) {
		c->op = DP_FILE_MODIFY;
		c->after = malloc(f->before_len + 1);
		memcpy(c->after, f->before, f->before_len + 1);
		c->after_len = f->before_len;
		c->mode = f->before_mode;
	} else
		c->op = DP_FILE_DELETE;
}

int dp_journal_undo_plan(struct dp_changeset *cs)
{
	struct dp_journal_list l;
	int r = dp_journal_list(cs->feature, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n; i++) {
		const struct dp_journal_file *f = &l.f[i];
		if (file_is_original(f))
			continue;
		char *now = NULL;
		size_t len = 0;
		if (dp_fs_read_all(f->path, &now, &len) < 0 || len != f->written_len ||
		    memcmp(now, f->written, len) != 0) {
			/* someone changed it after devpass: theirs now, not ours to revert */
			dp_strv_add(&cs->kept, f->path);
			free(now);
			continue;
		}
		stage_restore(cs, f, now, len);
	}
	for (size_t i = 0; i < l.dirs.n; i++)
		dp_strv_add(&cs->rmdirs, l.dirs.v[i]);
	dp_journal_list_free(&l);
	return 0;
}
