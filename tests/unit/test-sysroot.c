/* The filesystem gateway: confined to the root, whatever the path or the links say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/sysmacros.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devpass.h"
#include "fs/sysroot.h"
#include "util/strutil.h"

static char root[PATH_MAX];

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void sub(const char *rel)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void link_at(const char *target, const char *rel)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/devpass-sysroot-XXXXXX");
	assert_non_null(mkdtemp(root));
	sub("sys");
	sub("sys/devices");
	sub("sys/devices/pci0000:00");
	sub("sys/devices/pci0000:00/0000:00:01.0");
	put("sys/devices/pci0000:00/0000:00:01.0/vendor", "0x8086\n");
	sub("sys/bus");
	link_at("../devices/pci0000:00/0000:00:01.0", "sys/bus/dev0");
	sub("etc");
	put("etc/secret", "inside\n");
	link_at("/etc/secret", "sys/abs");          /* absolute: must stay inside the root */
	link_at("../../../../../../../../etc/hostname", "sys/climb");
	return dp_root_set(root);
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

static void reads_through_relative_links(void **state)
{
	char buf[64];
	assert_true(dp_fs_read_line("sys/bus/dev0/vendor", buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "0x8086");
	assert_true(dp_fs_read_line("/sys/bus/dev0/vendor", buf, sizeof(buf)) > 0);
}

static void refuses_dot_dot(void **state)
{
	char buf[64];
	assert_int_equal(dp_fs_read("sys/../etc/secret", buf, sizeof(buf)), -EACCES);
	assert_int_equal(dp_fs_read("../../etc/passwd", buf, sizeof(buf)), -EACCES);
	assert_false(dp_fs_path_is_safe("a/.."));
	assert_true(dp_fs_path_is_safe("a/..b/c"));
}

static void absolute_links_resolve_inside_the_root(void **state)
{
	char buf[64];
	assert_true(dp_fs_read_line("sys/abs", buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "inside");
	/* a link climbing past the root stops at the root, as in a chroot */
	assert_true(dp_fs_read("sys/climb", buf, sizeof(buf)) < 0);
}

static void resolve_gives_root_relative_paths(void **state)
{
	char out[PATH_MAX];
	assert_int_equal(dp_fs_resolve("sys/bus/dev0/vendor", out, sizeof(out)), 0);
	assert_string_equal(out, "sys/devices/pci0000:00/0000:00:01.0/vendor");
	assert_int_equal(dp_fs_resolve("sys/abs", out, sizeof(out)), 0);
	assert_string_equal(out, "etc/secret");
	assert_int_equal(dp_fs_resolve("sys/missing/x", out, sizeof(out)), -ENOENT);
}

/* links whose targets add up past PATH_MAX are an error, not an overflow */
static void resolve_refuses_overlong_paths(void **state)
{
	char name[256], target[4096] = "", link[PATH_MAX * 2], out[PATH_MAX];
	memset(name, 'a', 200);
	name[200] = '\0';
	snprintf(link, sizeof(link), "%s/sys/%s", root, name);
	mkdir(link, 0755);
	/* a link to itself, 20 times deep: each hop adds 200 characters */
	for (int i = 0; i < 20; i++)
		strcat(target, i ? "/loop" : "loop");
	snprintf(link, sizeof(link), "%s/sys/%s/loop", root, name);
	assert_int_equal(symlink(".", link), 0);
	snprintf(link, sizeof(link), "sys/%s/%s", name, target);
	int r = dp_fs_resolve(link, out, sizeof(out));
	assert_true(r == 0 || r == -ENAMETOOLONG || r == -ELOOP);
	char deep[PATH_MAX * 2] = "sys";
	for (int i = 0; i < 30; i++)
		strcat(strcat(deep, "/"), name);
	assert_true(dp_fs_resolve(deep, out, sizeof(out)) < 0);
}

static void readlink_name_gives_the_last_component(void **state)
{
	char name[64];
	assert_int_equal(dp_fs_readlink_name("sys/bus/dev0", name, sizeof(name)), 0);
	assert_string_equal(name, "0000:00:01.0");
	assert_true(dp_fs_readlink_name("sys/bus/nothing", name, sizeof(name)) < 0);
}

static void path_join_is_lexical(void **state)
{
	char out[256];
	dp_path_join(out, sizeof(out), "sys/bus/pci/devices", "../../../devices/pci0000:00/0000:00:01.0");
	assert_string_equal(out, "sys/devices/pci0000:00/0000:00:01.0");
	dp_path_join(out, sizeof(out), "a", "../../../../x");
	assert_string_equal(out, "x");
}

/* A captured tree has files where the kernel has block nodes: the probes must say "not
 * a block device", never open them as one (nor follow a link out of the root). */
static void block_probes_open_only_block_devices(void **state)
{
	dev_t backing = 0;
	put("dev-sda", "");
	assert_int_equal(dp_fs_block_probe_exclusive("dev-sda", makedev(8, 0)), -ENOTBLK);
	assert_int_equal(dp_fs_block_probe_exclusive("no-such-node", makedev(8, 0)), -ENOTBLK);
	assert_int_equal(dp_fs_loop_backing("dev-sda", makedev(7, 0), &backing), -ENOTBLK);
	assert_int_equal(dp_fs_block_probe_exclusive("sys/abs", makedev(8, 0)), -ENOTBLK);
	assert_int_equal(backing, 0);
}

static void missing_root_is_an_error(void **state)
{
	assert_true(dp_root_set("/nonexistent/devpass-root") < 0);
	assert_non_null(strstr(dp_error_message(), "/nonexistent/devpass-root"));
	assert_int_equal(dp_root_set(root), 0);
}

static int open_descriptors(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Deferred reads give each file's text, close everything at the end (in runs or one by
 * one, whatever numbers the files got), and the symlink refusal of the direct reads. */
static void deferred_reads_close_every_descriptor(void **state)
{
	char buf[64], name[32];
	int before = open_descriptors();
	int dirfd = dp_fs_dir_open("sys/devices/pci0000:00");
	assert_true(dirfd >= 0);
	int hole = open("/dev/null", O_RDONLY);   /* a gap in the numbers the batch gets */
	struct dp_fs_batch b = {0};
	for (int i = 0; i < 3 * DP_FS_BATCH + 5; i++) {
		if (i == 7)
			close(hole);
		assert_int_equal(dp_fs_dir_read_line_deferred(&b, dirfd, "0000:00:01.0/vendor", buf,
		                                              sizeof(buf)), 6);
		assert_string_equal(buf, "0x8086");
	}
	assert_int_equal(dp_fs_dir_read_line_deferred(&b, dirfd, "0000:00:01.0/none", buf,
	                                              sizeof(buf)), -ENOENT);
	snprintf(name, sizeof(name), "../../bus/dev0/vendor");
	assert_true(dp_fs_dir_read_line_deferred(&b, dirfd, name, buf, sizeof(buf)) < 0);
	dp_fs_batch_close(&b);
	assert_int_equal(b.n, 0);
	dp_fs_dir_close(dirfd);
	assert_int_equal(open_descriptors(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_through_relative_links),
		cmocka_unit_test(refuses_dot_dot),
		cmocka_unit_test(absolute_links_resolve_inside_the_root),
		cmocka_unit_test(resolve_gives_root_relative_paths),
		cmocka_unit_test(resolve_refuses_overlong_paths),
		cmocka_unit_test(readlink_name_gives_the_last_component),
		cmocka_unit_test(path_join_is_lexical),
		cmocka_unit_test(missing_root_is_an_error),
		cmocka_unit_test(block_probes_open_only_block_devices),
		cmocka_unit_test(deferred_reads_close_every_descriptor),
	};
	return cmocka_run_group_tests_name("sysroot", tests, setup, teardown);
}
