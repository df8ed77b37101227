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
#define JOURNAL_NONE {.db = NULL, .dirfd = -1}

static int journal_open(struct journal *j, bool create)
{
	/* files outside /sys outlive a power loss: so must the record of what they were */
	return dp_statedb_open(create ? DP_STATEDB_CREATE | DP_STATEDB_DURABLE : 0, &j->db, &j->dirfd);
}

/* also the cleanup of a struct journal: closing one never opened does nothing */
static void journal_close(struct journal *j)
{
	dp_statedb_close(j->db, j->dirfd);
}

static bool has_table(sqlite3 *db)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'files'", -1, &st,
	                       NULL) != SQLITE_OK)
		return false;
	return sqlite3_step(st) == SQLITE_ROW;
}

/* NULL when out of memory. */
static char *blob_dup(sqlite3_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(st, col);
	*len = (size_t)sqlite3_column_bytes(st, col);
	char *out = malloc(*len + 1);
	if (!out)
		return NULL;
	if (*len)
		memcpy(out, p, *len);
	out[*len] = '\0';
	return out;
}

static int list_dirs(sqlite3 *db, const char *feature, struct dp_strv *out)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	/* deepest first, so that a parent is tried after its children */
	if (sqlite3_prepare_v2(db, "SELECT path FROM dirs WHERE feature = ?1 "
	                           "ORDER BY length(path) DESC, path", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "list directories");
	sqlite3_bind_text(st, 1, feature, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		if (dp_strv_add(out, (const char *)sqlite3_column_text(st, 0)) < 0)
			return dp_oom();
	return 0;
}

/* One row of the files table, appended to out. */
static int journal_row_add(struct dp_journal_list *out, sqlite3_stmt *st)
{
	if (dp_array_grow(&out->f, out->n, 1, sizeof(*out->f)) < 0)
		return dp_oom();
	struct dp_journal_file *f = &out->f[out->n++];   /* counted at once: freed with out */
	memset(f, 0, sizeof(*f));
	f->path = strdup((const char *)sqlite3_column_text(st, 0));
	f->existed = sqlite3_column_int(st, 1) != 0;
	f->before = blob_dup(st, 2, &f->before_len);
	f->before_mode = (unsigned)sqlite3_column_int(st, 3);
	f->written = blob_dup(st, 4, &f->written_len);
	return f->path && f->before && f->written ? 0 : dp_oom();
}

static int journal_rows_read(sqlite3 *db, const char *feature, struct dp_journal_list *out)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT path, existed, before, before_mode, written FROM files "
	                           "WHERE feature = ?1 ORDER BY path", -1, &st, NULL) != SQLITE_OK)
		return dp_statedb_error(db, "list files");
	sqlite3_bind_text(st, 1, feature, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int r = journal_row_add(out, st);
		if (r < 0)
			return r;
	}
	return 0;
}

/* On failure out is left empty. */
int dp_journal_list(const char *feature, struct dp_journal_list *out)
{
	_cleanup_(journal_close) struct journal j = JOURNAL_NONE;
	memset(out, 0, sizeof(*out));
	int r = journal_open(&j, false);
	if (r < 0 || !j.db || !has_table(j.db))
		return r;
	if ((r = journal_rows_read(j.db, feature, out)) == 0)
		r = list_dirs(j.db, feature, &out->dirs);
	if (r < 0)
		dp_journal_list_free(out);
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

static int journal_record_all(sqlite3 *db, const struct dp_changeset *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		int r = cs->files[i].restore ? 0 : record_file(db, cs->feature, &cs->files[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cs->mkdirs.n; i++) {
		int r = record_dir(db, cs->feature, cs->mkdirs.v[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int dp_journal_record(const struct dp_changeset *cs)
{
	_cleanup_(journal_close) struct journal j = JOURNAL_NONE;
	int r = journal_open(&j, true);
	if (r < 0)
		return r;
	if (sqlite3_exec(j.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return dp_statedb_error(j.db, "begin");
	r = journal_record_all(j.db, cs);
	if (sqlite3_exec(j.db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK && r == 0)
		r = dp_statedb_error(j.db, "commit");
	return r;
}

/* Is the file as it was before devpass (content and mode, or absent)? */
static bool file_is_original(const struct dp_journal_file *f)
{
	_cleanup_free_ char *now = NULL;
	size_t len = 0;
	struct stat st;
	if (dp_fs_read_all(f->path, &now, &len) < 0)
		return !f->existed;
	return f->existed && len == f->before_len && memcmp(now, f->before, len) == 0 &&
	       dp_fs_stat(f->path, &st) == 0 && (st.st_mode & 07777) == f->before_mode;
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

/* Forgets the rows of files back at their original state and of directories gone. */
static int journal_forget_settled(sqlite3 *db, const struct dp_journal_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		int r = file_is_original(&l->f[i]) ? forget(db, "files", l->f[i].path) : 0;
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < l->dirs.n; i++) {
		int r = dp_fs_exists(l->dirs.v[i]) ? 0 : forget(db, "dirs", l->dirs.v[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int dp_journal_settle(const struct dp_changeset *cs)
{
	_cleanup_(dp_journal_list_freep) struct dp_journal_list l = {0};
	int r = dp_journal_list(cs->feature, &l);
	if (r < 0 || (!l.n && !l.dirs.n))
		return r;
	_cleanup_(journal_close) struct journal j = JOURNAL_NONE;
	if ((r = journal_open(&j, true)) < 0)
		return r;
	return journal_forget_settled(j.db, &l);
}

/* Stages putting f back as it was; now (what is there now) is taken over. */
static int stage_restore(struct dp_changeset *cs, const struct dp_journal_file *f,
                         char **now, size_t len)
{
	struct stat st;
	_cleanup_free_ char *path = strdup(f->path), *after = NULL;
	if (f->existed && (after = malloc(f->before_len + 1)))
		memcpy(after, f->before, f->before_len + 1);
	if (!path || (f->existed && !after) ||
	    dp_array_grow(&cs->files, cs->n, 1, sizeof(*cs->files)) < 0)
		return dp_oom();
	struct dp_file_change *c = &cs->files[cs->n++];
	*c = (struct dp_file_change){
		.path = TAKE_PTR(path),
		.restore = true,
		.before = TAKE_PTR(*now),
		.before_len = len,
		.before_mode = dp_fs_stat(f->path, &st) == 0 ? (st.st_mode & 07777) : 0644,
		.op = f->existed ? DP_FILE_MODIFY : DP_FILE_DELETE,
	};
	if (f->existed) {
		c->after = TAKE_PTR(after);
		c->after_len = f->before_len;
		c->mode = f->before_mode;
	}
	return 0;
}

int dp_journal_undo_plan(struct dp_changeset *cs)
{
	_cleanup_(dp_journal_list_freep) struct dp_journal_list l = {0};
	int r = dp_journal_list(cs->feature, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n; i++) {
		const struct dp_journal_file *f = &l.f[i];
		if (file_is_original(f))
			continue;
		_cleanup_free_ char *now = NULL;
		size_t len = 0;
		if (dp_fs_read_all(f->path, &now, &len) < 0 || len != f->written_len ||
		    memcmp(now, f->written, len) != 0) {
			/* someone changed it after devpass: theirs now, not ours to revert */
			if (dp_strv_add(&cs->kept, f->path) < 0)
				return dp_oom();
			continue;
		}
		if ((r = stage_restore(cs, f, &now, len)) < 0)
			return r;
	}
	for (size_t i = 0; i < l.dirs.n; i++)
		if (dp_strv_add(&cs->rmdirs, l.dirs.v[i]) < 0)
			return dp_oom();
	return 0;
}
