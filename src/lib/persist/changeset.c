/* Change sets: the files a command will create, edit or delete, staged in memory so that
 * --dry-run shows them as a diff and apply writes them journal-first, all or nothing. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs/sysroot.h"
#include "persist/persist.h"

char *dp_text_printf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

void dp_text_append(char **s, const char *fmt, ...)
{
	if (!*s)
		return;   /* a text that could not be built stays unbuilt */
	_cleanup_free_ char *more = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&more, fmt, ap) < 0)
		more = NULL;
	va_end(ap);
	char *joined = more ? dp_text_printf("%s%s", *s, more) : NULL;
	free(*s);
	*s = joined;
}

const char *dp_text_next_line(const char *line)
{
	const char *nl = strchr(line, '\n');
	return nl && nl[1] ? nl + 1 : NULL;
}

void dp_changeset_init(struct dp_changeset *cs, const char *feature)
{
	memset(cs, 0, sizeof(*cs));
	snprintf(cs->feature, sizeof(cs->feature), "%s", feature);
}

int dp_changeset_note_step(struct dp_changeset *cs, const char *note, enum dp_remedy next,
                           const struct dp_strv *subjects)
{
	if (dp_strv_add(&cs->notes, note) < 0)
		return dp_oom();   /* no note, no step: the command alone would be advice out of context */
	cs->next = next;
	cs->next_note = cs->notes.n - 1;
	cs->next_subject[0] = '\0';
	/* too many devices to name: the front end says ADDRESS instead */
	for (size_t i = 0, len = 0; subjects && i < subjects->n; i++) {
		int w = snprintf(cs->next_subject + len, sizeof(cs->next_subject) - len, "%s%s",
		                 i ? " " : "", subjects->v[i]);
		if (w < 0 || (size_t)w >= sizeof(cs->next_subject) - len) {
			cs->next_subject[0] = '\0';
			break;
		}
		len += (size_t)w;
	}
	return 0;
}

void dp_changeset_free(struct dp_changeset *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->files[i].path);
		free(cs->files[i].before);
		free(cs->files[i].after);
	}
	free(cs->files);
	for (size_t i = 0; i < cs->ncommands; i++)
		free(cs->commands[i].line);
	free(cs->commands);
	dp_strv_free(&cs->mkdirs);
	dp_strv_free(&cs->rmdirs);
	dp_strv_free(&cs->warnings);
	dp_strv_free(&cs->notes);
	dp_strv_free(&cs->kept);
	if (cs->journal)
		dp_journal_list_free(cs->journal);
	free(cs->journal);
	memset(cs, 0, sizeof(*cs));
}

bool dp_changeset_empty(const struct dp_changeset *cs)
{
	return cs->n == 0 && cs->mkdirs.n == 0 && cs->rmdirs.n == 0;
}

const char *dp_file_op_name(enum dp_file_op op)
{
	return op == DP_FILE_CREATE ? "create" : op == DP_FILE_MODIFY ? "modify" : "delete";
}

static struct dp_file_change *staged(const struct dp_changeset *cs, const char *path)
{
	for (size_t i = 0; i < cs->n; i++)
		if (strcmp(cs->files[i].path, path) == 0)
			return &cs->files[i];
	return NULL;
}

static void change_drop(struct dp_changeset *cs, struct dp_file_change *c)
{
	free(c->path);
	free(c->before);
	free(c->after);
	size_t i = (size_t)(c - cs->files);
	memmove(c, c + 1, (cs->n - i - 1) * sizeof(*c));
	cs->n--;
}

const char *dp_changeset_peek(const struct dp_changeset *cs, const char *path)
{
	const struct dp_file_change *c = staged(cs, path);
	if (c)
		return c->after;
	return NULL;
}

int dp_changeset_edited_since(struct dp_changeset *cs, const char *path)
{
	if (!cs->journal) {
		if (!(cs->journal = calloc(1, sizeof(*cs->journal))))
			return dp_oom();
		dp_journal_list(cs->feature, cs->journal);   /* unreadable: nothing recorded */
	}
	const struct dp_journal_list *l = cs->journal;
	bool edited = false;
	for (size_t i = 0; i < l->n && !edited; i++) {
		if (strcmp(l->f[i].path, path) != 0)
			continue;
		_cleanup_free_ char *now = NULL;
		size_t len = 0;
		if (dp_fs_read_all(path, &now, &len) == 0)
			edited = len != l->f[i].written_len || memcmp(now, l->f[i].written, len) != 0;
	}
	if (edited && !dp_strv_contains(&cs->kept, path) && dp_strv_add(&cs->kept, path) < 0)
		return dp_oom();
	return edited;
}

int dp_changeset_mkdirs_for(struct dp_changeset *cs, const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	/* parents first: walk from the top down, noting each missing component */
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (!dp_fs_exists(dir) && !dp_strv_contains(&cs->mkdirs, dir) &&
		    dp_strv_add(&cs->mkdirs, dir) < 0)
			return dp_oom();
		*p = '/';
	}
	return 0;
}

/* NULL when out of memory. */
static struct dp_file_change *change_new(struct dp_changeset *cs, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	if (!copy || dp_array_grow(&cs->files, cs->n, 1, sizeof(*cs->files)) < 0)
		return NULL;
	struct dp_file_change *c = &cs->files[cs->n++];
	*c = (struct dp_file_change){.path = TAKE_PTR(copy)};
	return c;
}

/* Reads what is at path now into c->before; the op follows from whether it exists. */
static int change_read_before(struct dp_file_change *c)
{
	struct stat st;
	int r = dp_fs_read_all(c->path, &c->before, &c->before_len);
	if (r == -ENOENT) {
		c->op = DP_FILE_CREATE;
		return 0;
	}
	if (r < 0)
		return dp_error_set(r, "cannot read %s: %s", c->path, strerror(-r));
	c->op = DP_FILE_MODIFY;
	c->before_mode = dp_fs_stat(c->path, &st) == 0 ? (st.st_mode & 07777) : 0644;
	return 0;
}

/* The staged change for path, or a new one holding what is there now. */
static int change_for(struct dp_changeset *cs, const char *path, struct dp_file_change **out)
{
	struct dp_file_change *c = staged(cs, path);
	if (!c) {
		if (!(c = change_new(cs, path)))
			return dp_oom();
		int r = change_read_before(c);
		if (r < 0) {
			change_drop(cs, c);
			return r;
		}
	}
	*out = c;
	return 0;
}

int dp_changeset_put(struct dp_changeset *cs, const char *path, const char *content,
                     unsigned mode)
{
	struct dp_file_change *c;
	if (!content)
		return dp_oom();   /* a text the dp_text helpers could not build */
	_cleanup_free_ char *after = strdup(content);
	if (!after)
		return dp_oom();
	int r = change_for(cs, path, &c);
	if (r < 0)
		return r;
	free(c->after);
	c->after = TAKE_PTR(after);
	c->after_len = strlen(content);
	c->mode = mode;
	if (c->op == DP_FILE_DELETE)
		c->op = c->before ? DP_FILE_MODIFY : DP_FILE_CREATE;
	if (c->before && c->before_len == c->after_len && c->before_mode == mode &&
	    memcmp(c->before, c->after, c->after_len) == 0)
		change_drop(cs, c);   /* already so: a second run writes nothing */
	else if (c->op == DP_FILE_CREATE)
		return dp_changeset_mkdirs_for(cs, path);
	return 0;
}

int dp_changeset_delete(struct dp_changeset *cs, const char *path)
{
	struct dp_file_change *c;
	if (!staged(cs, path) && !dp_fs_exists(path))
		return 0;
	int r = change_for(cs, path, &c);
	if (r < 0)
		return r;
	free(c->after);
	c->after = NULL;
	c->after_len = 0;
	if (!c->before) {
		change_drop(cs, c);   /* staged as new in this very plan: just do not create it */
		return 0;
	}
	c->op = DP_FILE_DELETE;
	return 0;
}

static int command_add(struct dp_changeset *cs, const char *line, bool optional)
{
	for (size_t i = 0; i < cs->ncommands; i++)
		if (strcmp(cs->commands[i].line, line) == 0)
			return 0;
	_cleanup_free_ char *copy = strdup(line);
	if (!copy || dp_array_grow(&cs->commands, cs->ncommands, 1, sizeof(*cs->commands)) < 0)
		return dp_oom();
	cs->commands[cs->ncommands++] = (struct dp_command){TAKE_PTR(copy), -1, false, optional};
	return 0;
}

int dp_changeset_command(struct dp_changeset *cs, const char *line)
{
	return command_add(cs, line, false);
}

int dp_changeset_command_optional(struct dp_changeset *cs, const char *line)
{
	return command_add(cs, line, true);
}

int dp_changeset_diff(const struct dp_changeset *cs, FILE *f)
{
	for (size_t i = 0; i < cs->n; i++) {
		const struct dp_file_change *c = &cs->files[i];
		int r = dp_diff_print(f, c->op == DP_FILE_CREATE ? "/dev/null" : c->path, c->before,
		                      c->before_len, c->op == DP_FILE_DELETE ? "/dev/null" : c->path,
		                      c->after, c->after_len);
		if (r < 0)
			return r;
		if (c->op == DP_FILE_MODIFY && c->before_mode != c->mode)
			fprintf(f, "mode %04o -> %04o\n", c->before_mode, c->mode);
	}
	return 0;
}

/* ---- apply ------------------------------------------------------------------------------ */

static int change_write(const struct dp_file_change *c)
{
	if (c->op == DP_FILE_DELETE)
		return dp_fs_unlink(c->path);
	return dp_fs_write_file(c->path, c->after, c->after_len, c->mode);
}

/* Puts a written file back as it was before this run. */
static void change_revert(const struct dp_file_change *c)
{
	if (c->op == DP_FILE_CREATE)
		dp_fs_unlink(c->path);
	else
		dp_fs_write_file(c->path, c->before, c->before_len, c->before_mode);
}

static int dirs_create(struct dp_changeset *cs)
{
	for (size_t i = 0; i < cs->mkdirs.n; i++) {
		int r = dp_fs_mkdir_p(cs->mkdirs.v[i], 0755);
		if (r < 0)
			return dp_error_set(r, "cannot create %s: %s", cs->mkdirs.v[i], strerror(-r));
	}
	return 0;
}

static int deeper_first(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
	return la < lb ? 1 : la > lb ? -1 : 0;
}

static void dirs_remove(struct dp_changeset *cs, struct dp_strv *dirs)
{
	qsort(dirs->v, dirs->n, sizeof(*dirs->v), deeper_first);
	for (size_t i = 0; i < dirs->n; i++) {
		int r = dp_fs_rmdir(dirs->v[i]);
		/* after the writes: a note lost for lack of memory cannot undo them */
		if (r == -ENOTEMPTY || r == -EEXIST)
			dp_strv_addf(&cs->notes, "left %s in place: it holds files devpass did not write",
			             dirs->v[i]);
	}
}

static int files_write(struct dp_changeset *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		int r = change_write(&cs->files[i]);
		if (r == 0)
			continue;
		dp_error_set(r, "cannot %s %s: %s; the files written before it were put back",
		             cs->files[i].op == DP_FILE_DELETE ? "remove" : "write", cs->files[i].path,
		             strerror(-r));
		while (i-- > 0)
			change_revert(&cs->files[i]);
		return r;
	}
	return 0;
}

/* Runs one command with the root's PATH; its output goes to stderr so that --json output
 * stays parseable. */
static int command_run(const char *line)
{
	_cleanup_free_ char *copy = strdup(line);
	char *argv[16], *save = NULL;
	int argc = 0;
	if (!copy)
		return -1;   /* as when it cannot be started */
	for (char *tok = strtok_r(copy, " ", &save); tok && argc < 15; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status = -1;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return pid < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int commands_run(struct dp_changeset *cs)
{
	int failed = 0;
	if (!dp_root_is_host())
		return 0;   /* a captured tree: its boot loader is not this machine's */
	for (size_t i = 0; i < cs->ncommands; i++) {
		struct dp_command *c = &cs->commands[i];
		c->run = true;
		c->status = command_run(c->line);
		if (c->status != 0 && c->optional)   /* a warning lost for lack of memory: nothing to undo */
			dp_strv_addf(&cs->warnings, "'%s' exited %d; the files take effect at the next boot "
			             "anyway", c->line, c->status);
		else if (c->status != 0 && !failed++)
			dp_error_set(-EIO, "'%s' exited %d%s: the files are written; run it yourself once "
			             "the problem is fixed", c->line, c->status,
			             c->status == 127 ? " (not installed?)" : "");
	}
	return failed ? -EIO : 0;
}

int dp_changeset_apply(struct dp_changeset *cs)
{
	if (dp_changeset_empty(cs))
		return 0;
	int r = dp_journal_record(cs);
	if (r < 0)
		return r;
	if ((r = dirs_create(cs)) == 0)
		r = files_write(cs);
	if (r < 0) {
		int err = r;
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", dp_error_message());
		dirs_remove(cs, &cs->mkdirs);
		dp_journal_settle(cs);
		return dp_error_set(err, "%s", msg);
	}
	dirs_remove(cs, &cs->rmdirs);
	if ((r = dp_journal_settle(cs)) < 0)
		return r;
	return commands_run(cs);
}
