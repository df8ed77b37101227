/* The mdev unit over the `mdev` fixture with the fake kernel: types, devices, create and
 * remove (with the kernel's errors and a blocking remove), NVIDIA's VF vGPU layout,
 * definitions, start-parent and mdevctl import. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "devpass.h"
#include "fakekernel.h"
#include "fs/sysroot.h"

#define MTTY_ACTIVE "8a1b2c3d-0000-4000-8000-000000000001"
#define P40_ACTIVE "8a1b2c3d-0000-4000-8000-000000000002"
#define NEW_UUID "0f0e0d0c-1111-4222-8333-444455556666"
#define VF_FREE "0000:61:00.4"
#define VF_BUSY "0000:61:00.5"
#define MTTY1_AVAIL "sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-1/available_instances"

static char root[PATH_MAX];
static struct fk_state *fk;

static int setup(void **state)
{
	(void)state;
	fk = fk_start("mdev", root, sizeof(root));
	return fk ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	fk_stop(root);
	return 0;
}

static int avail(const char *path)
{
	char buf[32];
	return dp_fs_read_line(path, buf, sizeof(buf)) < 0 ? -1 : atoi(buf);
}

static const struct dp_mdev *find(const struct dp_mdev_list *l, const char *uuid)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->m[i].uuid, uuid) == 0)
			return &l->m[i];
	return NULL;
}

static void types_of_every_parent(void **state)
{
	(void)state;
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list l = {0};
	assert_int_equal(dp_mdev_types_read(NULL, &l), 0);
	assert_int_equal(l.n, 4 + 2 + 3 * 3);   /* P40, mtty, three free L40S VFs */
	assert_string_equal(l.t[0].parent, "0000:60:00.0");
	assert_string_equal(l.t[0].type, "nvidia-63");
	assert_string_equal(l.t[0].name, "GRID P40-4Q");
	assert_non_null(strstr(l.t[0].description, "num_heads=4"));
	assert_string_equal(l.t[4].type, "mtty-1");
	assert_int_equal(l.t[4].available, 22);
	assert_string_equal(l.t[4].description, "");
	assert_string_equal(l.t[6].parent, VF_FREE);
	assert_string_equal(l.t[6].type, "nvidia-1145");
	assert_string_equal(l.t[6].name, "NVIDIA L40S-1B");
	assert_string_equal(l.t[6].device_api, "vfio-pci");
}

static void types_of_bad_or_unknown_parents(void **state)
{
	(void)state;
	struct dp_mdev_type_list l;
	assert_int_equal(dp_mdev_types_read("nosuch", &l), -ENOENT);
	assert_non_null(strstr(dp_error_message(), "nosuch is no mediated device parent"));
	assert_int_equal(dp_mdev_types_read("../../etc", &l), -EINVAL);
	assert_int_equal(dp_mdev_types_read("", &l), -EINVAL);
	assert_int_equal(dp_mdev_types_read(VF_BUSY, &l), 0);   /* holds one: nothing fits */
	assert_int_equal(l.n, 0);
	dp_mdev_type_list_free(&l);
}

static void lists_active_devices_with_groups(void **state)
{
	(void)state;
	_cleanup_(dp_mdev_list_freep) struct dp_mdev_list l = {0};
	assert_int_equal(dp_mdev_list_read(&l), 0);
	assert_int_equal(l.n, 3);
	const struct dp_mdev *m = find(&l, MTTY_ACTIVE);
	assert_non_null(m);
	assert_string_equal(m->parent, "mtty");
	assert_string_equal(m->type, "mtty-2");
	assert_int_equal(m->group, 200);
	assert_true(m->active && !m->defined);
	assert_non_null(m = find(&l, VF_BUSY));
	assert_string_equal(m->type, "nvidia-1145");
	assert_int_equal(m->group, 63);
}

static void create_and_remove(void **state)
{
	(void)state;
	char uuid[37];
	assert_int_equal(dp_mdev_create("mtty", "mtty-1", "0F0E0D0C-1111-4222-8333-444455556666", uuid), 0);
	assert_string_equal(uuid, NEW_UUID);   /* the kernel names devices in lower case */
	assert_int_equal(avail(MTTY1_AVAIL), 21);
	_cleanup_(dp_mdev_list_freep) struct dp_mdev_list l = {0};
	assert_int_equal(dp_mdev_list_read(&l), 0);
	assert_non_null(find(&l, NEW_UUID));
	assert_string_equal(find(&l, NEW_UUID)->type, "mtty-1");
	assert_int_equal(dp_mdev_remove(NEW_UUID, 2000), 0);
	assert_int_equal(avail(MTTY1_AVAIL), 22);
	assert_false(dp_fs_exists("sys/bus/mdev/devices/" NEW_UUID));
	assert_int_equal(dp_mdev_remove(NEW_UUID, 2000), -ENOENT);
}

static void create_new_uuid(void **state)
{
	(void)state;
	char uuid[37];
	assert_int_equal(dp_mdev_create("mtty", "mtty-2", NULL, uuid), 0);
	assert_true(dp_mdev_uuid_valid(uuid));
	assert_int_equal(uuid[14], '4');   /* version 4 */
}

static void create_refuses_bad_input_before_writing(void **state)
{
	(void)state;
	char uuid[37];
	assert_int_equal(dp_mdev_create("mtty", "mtty-1", "not-a-uuid", uuid), -EINVAL);
	assert_int_equal(dp_mdev_create("mtty", "mtty-1", NEW_UUID "0", uuid), -EINVAL);
	assert_int_equal(dp_mdev_create("mtty", "mtty-1", "0f0e0d0c-1111-4222-8333-44445555666g", uuid), -EINVAL);
	assert_int_equal(dp_mdev_create("mtty", "mtty-9", NEW_UUID, uuid), -ENOENT);
	assert_non_null(strstr(dp_error_message(), "has no mdev type mtty-9"));
	assert_int_equal(dp_mdev_create("mtty/../x", "mtty-1", NEW_UUID, uuid), -EINVAL);
	assert_int_equal(dp_mdev_create("nosuch", "mtty-1", NEW_UUID, uuid), -ENOENT);
	assert_int_equal(dp_mdev_remove("../../x", 1000), -EINVAL);
	assert_int_equal(fk->writes, 0);
}

static void create_existing_uuid_says_so(void **state)
{
	(void)state;
	char uuid[37];
	assert_int_equal(dp_mdev_create("mtty", "mtty-1", MTTY_ACTIVE, uuid), -EEXIST);
	assert_non_null(strstr(dp_error_message(), "exists already"));
	assert_int_equal(avail(MTTY1_AVAIL), 22);
}

static void create_without_capacity_says_how_many(void **state)
{
	(void)state;
	char uuid[37];
	fk->fault = FK_MDEV_CREATE_EUSERS;
	fk->fault_at = 1;
	assert_int_equal(dp_mdev_create("mtty", "mtty-1", NEW_UUID, uuid), -EUSERS);
	assert_non_null(strstr(dp_error_message(), "no capacity left for mdev type mtty-1"));
	assert_non_null(strstr(dp_error_message(), "available_instances: 22"));
	assert_false(dp_fs_exists("sys/bus/mdev/devices/" NEW_UUID));
	/* the kernel's own counter at 0 gives the same answer */
	assert_int_equal(dp_mdev_create("0000:60:00.0", "nvidia-64", NEW_UUID, uuid), -EUSERS);
	assert_non_null(strstr(dp_error_message(), "available_instances: 0"));
}

static void remove_of_a_held_device_times_out(void **state)
{
	(void)state;
	fk->fault = FK_MDEV_REMOVE_HANGS;
	fk->fault_at = 1;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(dp_mdev_remove(MTTY_ACTIVE, 300), -EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true(b.tv_sec - a.tv_sec < 3);
	assert_non_null(strstr(dp_error_message(), "is in use"));
	assert_true(dp_fs_exists("sys/bus/mdev/devices/" MTTY_ACTIVE));
}

static void vf_layout_create_and_remove(void **state)
{
	(void)state;
	char uuid[37], cur[16];
	assert_int_equal(dp_mdev_create(VF_FREE, "nvidia-1153", NULL, uuid), 0);
	assert_string_equal(uuid, VF_FREE);
	assert_true(dp_fs_read_line("sys/bus/pci/devices/" VF_FREE "/nvidia/current_vgpu_type",
	                            cur, sizeof(cur)) >= 0);
	assert_string_equal(cur, "1153");
	assert_int_equal(dp_mdev_create(VF_BUSY, "nvidia-1145", NULL, uuid), -EEXIST);
	assert_int_equal(dp_mdev_create("0000:61:00.6", "nvidia-9999", NULL, uuid), -EUSERS);
	assert_int_equal(dp_mdev_create("0000:61:00.6", "mtty-1", NULL, uuid), -ENOENT);
	assert_int_equal(dp_mdev_remove(VF_BUSY, 1000), 0);
	assert_true(dp_fs_read_line("sys/bus/pci/devices/" VF_BUSY "/nvidia/current_vgpu_type",
	                            cur, sizeof(cur)) >= 0);
	assert_string_equal(cur, "0");
	assert_int_equal(dp_mdev_remove("0000:61:00.6", 1000), -ENOENT);
}

static void definitions_start_with_their_parent(void **state)
{
	(void)state;
	char uuid[37], manual[37];
	assert_int_equal(dp_mdev_define("mtty", "mtty-1", NEW_UUID, true, uuid), 0);
	assert_int_equal(dp_mdev_define("mtty", "mtty-1", NULL, false, manual), 0);
	assert_int_equal(dp_mdev_define("mtty", "mtty-1", NEW_UUID, true, uuid), -EEXIST);
	assert_int_equal(dp_mdev_define("mtty", "mtty-9", NULL, true, uuid), -ENOENT);
	/* an active device adopted with another type is refused */
	assert_int_equal(dp_mdev_define("mtty", "mtty-1", MTTY_ACTIVE, true, uuid), -EEXIST);
	_cleanup_(dp_strv_freep) struct dp_strv started = {0};
	assert_int_equal(dp_mdev_start_parent("mtty", &started), 0);
	assert_int_equal(started.n, 1);
	assert_string_equal(started.v[0], NEW_UUID);
	_cleanup_(dp_mdev_list_freep) struct dp_mdev_list l = {0};
	assert_int_equal(dp_mdev_list_read(&l), 0);
	const struct dp_mdev *m = find(&l, NEW_UUID);
	assert_true(m && m->active && m->defined && m->auto_start);
	assert_true((m = find(&l, manual)) && !m->active && m->defined && !m->auto_start);
	dp_strv_free(&started);
	assert_int_equal(dp_mdev_start_parent("mtty", &started), 0);   /* active: nothing */
	assert_int_equal(started.n, 0);
	assert_int_equal(dp_mdev_undefine(manual), 0);
	assert_int_equal(dp_mdev_undefine(manual), -ENOENT);
}

static void import_of_mdevctl_and_both_managing(void **state)
{
	(void)state;
	_cleanup_(dp_strv_freep) struct dp_strv imported = {0}, dual = {0};
	assert_int_equal(dp_mdev_import("etc/mdevctl-bad.d", &imported), -EBADMSG);
	assert_int_equal(imported.n, 0);
	assert_int_equal(dp_mdev_dual_managed(&dual), 0);
	assert_int_equal(dual.n, 0);
	assert_int_equal(dp_mdev_import(NULL, &imported), 0);
	assert_int_equal(imported.n, 2);
	_cleanup_(dp_mdev_def_list_freep) struct dp_mdev_def_list defs = {0};
	assert_int_equal(dp_mdev_defs_read(&defs), 0);
	assert_int_equal(defs.n, 2);
	assert_string_equal(defs.d[0].parent, "0000:60:00.0");
	assert_false(defs.d[0].auto_start);
	assert_non_null(strstr(defs.d[0].attrs, "frame_rate_limiter=0"));
	assert_string_equal(defs.d[0].source, "mdevctl");
	assert_true(defs.d[1].auto_start);
	assert_int_equal(dp_mdev_dual_managed(&dual), 0);
	assert_int_equal(dual.n, 2);
	dp_strv_free(&imported);
	assert_int_equal(dp_mdev_import(NULL, &imported), 0);   /* known already: skipped */
	assert_int_equal(imported.n, 0);
	assert_int_equal(dp_mdev_import("../x", &imported), -EINVAL);
}

static void start_parent_writes_attrs_and_undoes_a_failure(void **state)
{
	(void)state;
	char dir[PATH_MAX + 64], path[PATH_MAX + 128];
	snprintf(dir, sizeof(dir), "%s/etc/mdevctl-attrs.d/mtty", root);
	assert_int_equal(system((snprintf(path, sizeof(path), "mkdir -p '%s'", dir), path)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, NEW_UUID);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"mdev_type\": \"mtty-1\", \"start\": \"auto\", "
	      "\"attrs\": [{\"foo\": \"1\"}, {\"bar\": \"2\"}]}\n", f);
	fclose(f);
	_cleanup_(dp_strv_freep) struct dp_strv imported = {0}, started = {0};
	assert_int_equal(dp_mdev_import("etc/mdevctl-attrs.d", &imported), 0);
	assert_int_equal(imported.n, 1);
	fk->fault = FK_MDEV_ATTR_FAILS;
	fk->fault_at = 2;
	assert_int_equal(dp_mdev_start_parent("mtty", &started), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "attribute bar of mdev " NEW_UUID));
	assert_non_null(strstr(dp_error_message(), "removed again"));
	assert_int_equal(started.n, 0);
	assert_false(dp_fs_exists("sys/bus/mdev/devices/" NEW_UUID));
	assert_int_equal(avail(MTTY1_AVAIL), 22);
	fk->fault = FK_NONE;
	assert_int_equal(dp_mdev_start_parent("mtty", &started), 0);
	assert_int_equal(started.n, 1);
	assert_true(dp_fs_exists("sys/bus/mdev/devices/" NEW_UUID));
	assert_int_equal(avail(MTTY1_AVAIL), 21);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(types_of_every_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(types_of_bad_or_unknown_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(lists_active_devices_with_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(create_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(create_new_uuid, setup, teardown),
		cmocka_unit_test_setup_teardown(create_refuses_bad_input_before_writing, setup, teardown),
		cmocka_unit_test_setup_teardown(create_existing_uuid_says_so, setup, teardown),
		cmocka_unit_test_setup_teardown(create_without_capacity_says_how_many, setup, teardown),
		cmocka_unit_test_setup_teardown(remove_of_a_held_device_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(vf_layout_create_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(definitions_start_with_their_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(import_of_mdevctl_and_both_managing, setup, teardown),
		cmocka_unit_test_setup_teardown(start_parent_writes_attrs_and_undoes_a_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
