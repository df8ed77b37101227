/* Change sets and the journal: what setup and persist rely on for byte-exact undo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devpass.h"
#include "persist/persist.h"

static char root[PATH_MAX];

static void put(const char *rel, const char *text, mode_t mode)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *get(const char *rel, mode_t *mode)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	struct stat st;
	if (stat(path, &st) < 0)
		return NULL;
	if (mode)
		*mode = st.st_mode & 07777;
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, (size_t)st.st_size + 1);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	return buf;
}

static bool exists(const char *rel)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return access(path, F_OK) == 0;
}

static int setup_root(void **state)
{
	snprintf(root, sizeof(root), "/tmp/devpass-test-persist.XXXXXX");
	assert_non_null(mkdtemp(root));
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/etc", root);
	mkdir(path, 0755);
	assert_int_equal(dp_root_set(root), 0);
	return 0;
}

static int teardown_root(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

static char *diff_of(const char *a, const char *b)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	dp_diff_print(f, "a", a, a ? strlen(a) : 0, "b", b, b ? strlen(b) : 0);
	fclose(f);
	return text;
}

static void test_diff_one_line_changed(void **state)
{
	char *d = diff_of("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n");
	assert_string_equal(d, "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
	free(d);
}

static void test_diff_new_file_and_missing_newline(void **state)
{
	char *d = diff_of(NULL, "x\ny");
	assert_string_equal(d, "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n");
	free(d);
}

static void test_diff_two_hunks(void **state)
{
	char *d = diff_of("a\n1\n2\n3\n4\n5\n6\n7\n8\nz\n", "A\n1\n2\n3\n4\n5\n6\n7\n8\nZ\n");
	assert_non_null(strstr(d, "@@ -1,4 +1,4 @@\n-a\n+A\n"));
	assert_non_null(strstr(d, "@@ -7,4 +7,4 @@\n 6\n 7\n 8\n-z\n+Z\n"));
	free(d);
}

/* create in a new directory + modify an existing file (odd mode), then undo: every byte,
 * mode and directory as before, and the journal empty */
static void test_apply_then_undo_is_byte_exact(void **state)
{
	put("etc/grub", "GRUB_CMDLINE_LINUX=\"quiet\"\n", 0640);
	struct dp_changeset cs;
	dp_changeset_init(&cs, "t");
	assert_int_equal(dp_changeset_put(&cs, "/etc/new/dir/file.conf", "hello\n", 0600), 0);
	assert_int_equal(dp_changeset_put(&cs, "/etc/grub", "GRUB_CMDLINE_LINUX=\"quiet x\"\n", 0640), 0);
	assert_int_equal(cs.n, 2);
	assert_int_equal(cs.mkdirs.n, 2);
	assert_int_equal(dp_changeset_apply(&cs), 0);
	dp_changeset_free(&cs);
	mode_t mode;
	char *t = get("etc/new/dir/file.conf", &mode);
	assert_string_equal(t, "hello\n");
	assert_int_equal(mode, 0600);
	free(t);

	/* the same again is no change at all */
	dp_changeset_init(&cs, "t");
	assert_int_equal(dp_changeset_put(&cs, "/etc/grub", "GRUB_CMDLINE_LINUX=\"quiet x\"\n", 0640), 0);
	assert_true(dp_changeset_empty(&cs));
	dp_changeset_free(&cs);

	dp_changeset_init(&cs, "t");
	assert_int_equal(dp_journal_undo_plan(&cs), 0);
	assert_int_equal(cs.n, 2);
	assert_int_equal(dp_changeset_apply(&cs), 0);
	dp_changeset_free(&cs);
	t = get("etc/grub", &mode);
	assert_string_equal(t, "GRUB_CMDLINE_LINUX=\"quiet\"\n");
	assert_int_equal(mode, 0640);
	free(t);
	assert_false(exists("etc/new"));
	struct dp_journal_list l;
	assert_int_equal(dp_journal_list("t", &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(l.dirs.n, 0);
	dp_journal_list_free(&l);
}

/* a file the admin edited after devpass wrote it is theirs: undo leaves it and says so */
static void test_undo_keeps_edited_file(void **state)
{
	struct dp_changeset cs;
	dp_changeset_init(&cs, "t");
	assert_int_equal(dp_changeset_put(&cs, "/etc/mine.conf", "devpass\n", 0644), 0);
	assert_int_equal(dp_changeset_apply(&cs), 0);
	dp_changeset_free(&cs);
	put("etc/mine.conf", "admin\n", 0644);
	dp_changeset_init(&cs, "t");
	assert_int_equal(dp_journal_undo_plan(&cs), 0);
	assert_int_equal(cs.n, 0);
	assert_int_equal(cs.kept.n, 1);
	assert_string_equal(cs.kept.v[0], "/etc/mine.conf");
	dp_changeset_free(&cs);
	char *t = get("etc/mine.conf", NULL);
	assert_string_equal(t, "admin\n");
	free(t);
}

/* a write that fails puts back the ones before it, and the journal forgets them */
static void test_failed_write_rolls_back(void **state)
{
	put("etc/a.conf", "old\n", 0644);
	char link[PATH_MAX * 2];
	snprintf(link, sizeof(link), "%s/etc/dangling", root);
	assert_int_equal(symlink("/no-such-dir", link), 0);   /* staged fine, fails to write */
	struct dp_changeset cs;
	dp_changeset_init(&cs, "t");
	assert_int_equal(dp_changeset_put(&cs, "/etc/a.conf", "new\n", 0644), 0);
	assert_int_equal(dp_changeset_put(&cs, "/etc/dangling/b.conf", "b\n", 0644), 0);
	assert_true(dp_changeset_apply(&cs) < 0);
	assert_non_null(strstr(dp_error_message(), "/etc/dangling/b.conf"));
	dp_changeset_free(&cs);
	char *t = get("etc/a.conf", NULL);
	assert_string_equal(t, "old\n");
	free(t);
	struct dp_journal_list l;
	assert_int_equal(dp_journal_list("t", &l), 0);
	assert_int_equal(l.n, 0);
	dp_journal_list_free(&l);
}

static void test_paths_outside_root_refused(void **state)
{
	struct dp_changeset cs;
	dp_changeset_init(&cs, "t");
	assert_true(dp_changeset_put(&cs, "/etc/../../escape", "x\n", 0644) < 0);
	assert_true(dp_changeset_empty(&cs));
	dp_changeset_free(&cs);
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/../escape", root);
	assert_int_not_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_one_line_changed),
		cmocka_unit_test(test_diff_new_file_and_missing_newline),
		cmocka_unit_test(test_diff_two_hunks),
		cmocka_unit_test_setup_teardown(test_apply_then_undo_is_byte_exact, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_undo_keeps_edited_file, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_failed_write_rolls_back, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_paths_outside_root_refused, setup_root, teardown_root),
	};
	return cmocka_run_group_tests_name("persist", tests, NULL, NULL);
}
