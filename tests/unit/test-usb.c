/* USB devices: the sysfs name and id formats (usb-parse.c), lookup, and a scan of the
 * `usb` fixture tree (tests/fixtures/fx_usb.py) with its controllers, in-use and
 * host-critical devices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devpass.h"
#include "fakekernel.h"
#include "usb/usb.h"

static char root[PATH_MAX];

/* ---- names ---------------------------------------------------------------------------- */

static void names_of_root_hubs_devices_and_interfaces(void **state)
{
	int bus = 0;
	char devpath[32];
	assert_int_equal(usb_name_parse("usb3", &bus, devpath, sizeof(devpath)), USB_NAME_ROOT_HUB);
	assert_int_equal(bus, 3);
	assert_string_equal(devpath, "0");
	assert_int_equal(usb_name_parse("3-1.2", &bus, devpath, sizeof(devpath)), USB_NAME_DEVICE);
	assert_string_equal(devpath, "1.2");
	assert_int_equal(usb_name_parse("1-1.4.1", &bus, devpath, sizeof(devpath)), USB_NAME_DEVICE);
	assert_string_equal(devpath, "1.4.1");
	assert_int_equal(usb_name_parse("12-255", &bus, devpath, sizeof(devpath)), USB_NAME_DEVICE);
	assert_int_equal(bus, 12);
	assert_int_equal(usb_name_parse("3-1.2:1.0", &bus, devpath, sizeof(devpath)), USB_NAME_INTERFACE);
	assert_int_equal(usb_name_parse("3-0:1.0", &bus, devpath, sizeof(devpath)), USB_NAME_INTERFACE);
	assert_int_equal(usb_name_parse("1-1.2.3.4.5.6.7", &bus, devpath, sizeof(devpath)), USB_NAME_DEVICE);
}

static void malformed_names_are_other(void **state)
{
	static const char *const bad[] = {
		"", "usb", "usb0", "usb03", "usbx", "0-1", "1-0", "1-01", "1-256", "1-1.", "1-.1",
		"1-1..2", "-1", "1-", "1-1:1", "1-1:1.0x", "1-1:", "../1-1", "1-1/..", "1-1/x",
		"1-1.2.3.4.5.6.7.8", "usb1-port1", "1-1-port2", "a-1", " 1-1", "1-1 ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int bus;
		char devpath[32];
		if (usb_name_parse(bad[i], &bus, devpath, sizeof(devpath)) != USB_NAME_OTHER)
			fail_msg("'%s' taken for a USB name", bad[i]);
	}
}

static void ids_with_and_without_serial(void **state)
{
	uint16_t vid, pid;
	const char *serial;
	assert_true(usb_id_parse("1d6b:0104", &vid, &pid, &serial));
	assert_int_equal(vid, 0x1d6b);
	assert_int_equal(pid, 0x0104);
	assert_null(serial);
	assert_true(usb_id_parse("1D6B:104:DP:TEST", &vid, &pid, &serial));
	assert_int_equal(pid, 0x104);
	assert_string_equal(serial, "DP:TEST");   /* a serial may hold colons */
	static const char *const bad[] = {":0104", "1d6b:", "1d6b:0104:", "12345:0001", "zz:01",
	                                  "1d6b", "", "1d6b:0x04", "1-1.2"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (usb_id_parse(bad[i], &vid, &pid, &serial))
			fail_msg("'%s' taken for an id", bad[i]);
}

static void locations_in_tree_order(void **state)
{
	assert_true(usb_location_compare(1, "0", 1, "1") < 0);        /* the root hub first */
	assert_true(usb_location_compare(1, "1", 1, "1.2") < 0);       /* a hub before its devices */
	assert_true(usb_location_compare(1, "1.2", 1, "1.4") < 0);
	assert_true(usb_location_compare(1, "1.4.1", 1, "2") < 0);
	assert_true(usb_location_compare(1, "1.9", 1, "1.10") < 0);    /* by number, not text */
	assert_true(usb_location_compare(2, "1", 10, "1") < 0);
	assert_int_equal(usb_location_compare(3, "1.2", 3, "1.2"), 0);
}

static void keyboards_by_their_keys(void **state)
{
	assert_true(usb_key_bitmap_is_keyboard("1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe"));
	assert_true(usb_key_bitmap_is_keyboard("fffffffffffffffe\n"));
	assert_false(usb_key_bitmap_is_keyboard("10000000000000 0"));   /* a power button */
	assert_false(usb_key_bitmap_is_keyboard("1f0000 0 0 0 0"));     /* a mouse's buttons */
	assert_false(usb_key_bitmap_is_keyboard(""));
	assert_false(usb_key_bitmap_is_keyboard("zz"));
}

/* ---- lookup on a list made by hand ------------------------------------------------- */

static void lookup_by_location_id_and_serial(void **state)
{
	struct dp_usb_device d[3] = {0};
	snprintf(d[0].location, sizeof(d[0].location), "1-1");
	d[0].vendor_id = 0x0781, d[0].product_id = 0x5581, d[0].has_serial = true;
	snprintf(d[0].serial, sizeof(d[0].serial), "AAA");
	snprintf(d[1].location, sizeof(d[1].location), "1-2");
	d[1].vendor_id = 0x0781, d[1].product_id = 0x5581, d[1].has_serial = true;
	snprintf(d[1].serial, sizeof(d[1].serial), "BBB");
	snprintf(d[2].location, sizeof(d[2].location), "2-1.4");
	d[2].vendor_id = 0x1a86, d[2].product_id = 0x7523;
	struct dp_usb_list list = {d, 3};
	struct dp_usb_device *out = NULL;
	assert_int_equal(dp_usb_lookup(&list, "2-1.4", &out), 0);
	assert_ptr_equal(out, &d[2]);
	assert_int_equal(dp_usb_lookup(&list, "1a86:7523", &out), 0);
	assert_ptr_equal(out, &d[2]);
	assert_int_equal(dp_usb_lookup(&list, "0781:5581:BBB", &out), 0);
	assert_ptr_equal(out, &d[1]);
	assert_int_equal(dp_usb_lookup(&list, "0781:5581", &out), -EEXIST);
	assert_non_null(strstr(dp_error_message(), "1-1"));
	assert_int_equal(dp_usb_lookup(&list, "1a86:7523:X", &out), -ENOENT);   /* has none */
	assert_int_equal(dp_usb_lookup(&list, "0781:5581:aaa", &out), -ENOENT); /* exact case */
	assert_int_equal(dp_usb_lookup(&list, "9-9", &out), -ENOENT);
	assert_int_equal(dp_usb_lookup(&list, "1-1:1.0", &out), -EINVAL);
	assert_int_equal(dp_usb_lookup(&list, "../../etc", &out), -EINVAL);
	assert_int_equal(dp_usb_lookup(&list, "", &out), -EINVAL);
}

/* ---- a scan of the usb fixture ----------------------------------------------------- */

static const struct dp_usb_device *find(const struct dp_usb_list *l, const char *loc)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->d[i].location, loc) == 0)
			return &l->d[i];
	fail_msg("no %s", loc);
	return NULL;
}

static void scan_sorted_without_root_hubs(void **state)
{
	struct dp_usb_list l;
	assert_int_equal(dp_usb_scan(&l, 0), 0);
	static const char *const order[] = {"1-1", "1-1.2", "1-1.4", "1-1.4.1", "1-2", "1-3", "2-1", "3-1"};
	assert_int_equal(l.n, 8);
	for (size_t i = 0; i < l.n; i++)
		assert_string_equal(l.d[i].location, order[i]);
	dp_usb_list_free(&l);
	assert_int_equal(dp_usb_scan(&l, DP_USB_SCAN_ROOT_HUBS), 0);
	assert_int_equal(l.n, 11);
	assert_string_equal(l.d[0].location, "usb1");
	assert_true(l.d[0].hub);
	assert_int_equal(l.d[0].nifs, 1);
	assert_string_equal(l.d[0].ifs[0].name, "1-0:1.0");
	assert_string_equal(find(&l, "usb3")->controller, "dummy_hcd.0");
	dp_usb_list_free(&l);
}

static void scan_attributes_controllers_and_states(void **state)
{
	struct dp_usb_list l;
	assert_int_equal(dp_usb_scan(&l, 0), 0);
	const struct dp_usb_device *deep = find(&l, "1-1.4.1");
	assert_int_equal(deep->busnum, 1);
	assert_int_equal(deep->devnum, 5);
	assert_string_equal(deep->devpath, "1.4.1");
	assert_false(deep->has_serial);
	assert_string_equal(deep->controller, "0000:00:14.0");   /* through two hubs */
	assert_true(deep->controller_pci);
	assert_string_equal(deep->ifs[0].driver, "ch341");
	assert_true(find(&l, "1-1.4")->hub);
	const struct dp_usb_device *gadget = find(&l, "3-1");
	assert_string_equal(gadget->controller, "dummy_hcd.0");
	assert_false(gadget->controller_pci);
	assert_string_equal(gadget->serial, "DPTEST0001");
	assert_int_equal(gadget->nifs, 2);
	const struct dp_usb_device *zb = find(&l, "1-3");
	assert_true(zb->in_use);
	assert_string_equal(zb->in_use_by, "qemu-system-x86 (pid 4242)");
	assert_string_equal(zb->vendor, "Acme");            /* in no usb.ids: its own strings */
	assert_string_equal(zb->product, "Zigbee Stick");
	const struct dp_usb_device *stick = find(&l, "2-1");
	assert_true(stick->critical);
	assert_non_null(strstr(stick->critical_reason, "sdb1"));
	assert_non_null(strstr(stick->critical_reason, "/mnt/stick"));
	assert_string_equal(stick->speed, "5000");
	const struct dp_usb_device *kb = find(&l, "1-2");
	assert_true(kb->critical);
	assert_non_null(strstr(kb->critical_reason, "only keyboard"));
	assert_false(find(&l, "1-1.2")->critical);
	assert_false(find(&l, "1-1.2")->in_use);
	dp_usb_list_free(&l);
}

static void write_at(const char *rel, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A PS/2 keyboard beside it: the USB keyboard is no longer the only one. */
static void second_keyboard_frees_the_usb_one(void **state)
{
	char dir[PATH_MAX], link[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/sys/devices/platform/i8042/serio0/input/input1/capabilities", root);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	assert_int_equal(system(cmd), 0);
	write_at("sys/devices/platform/i8042/serio0/input/input1/capabilities/key",
	         "402000000 3803078f800d001 feffffdfffefffff fffffffffffffffe\n");
	snprintf(link, sizeof(link), "%s/sys/class/input/input1", root);
	assert_int_equal(symlink("../../devices/platform/i8042/serio0/input/input1", link), 0);
	struct dp_usb_list l;
	assert_int_equal(dp_usb_scan(&l, 0), 0);
	assert_false(find(&l, "1-2")->critical);
	assert_null(find(&l, "1-2")->critical_reason);
	dp_usb_list_free(&l);
	unlink(link);
}

static void no_usb_at_all_is_an_empty_list(void **state)
{
	char empty[] = "/tmp/devpass-usb-empty-XXXXXX";
	assert_non_null(mkdtemp(empty));
	dp_root_set(empty);
	struct dp_usb_list l = {(void *)1, 5};
	assert_int_equal(dp_usb_scan(&l, DP_USB_SCAN_ROOT_HUBS), 0);
	assert_int_equal(l.n, 0);
	dp_usb_list_free(&l);
	dp_root_set(root);
	rmdir(empty);
}

static int setup(void **state)
{
	return fk_start("usb", root, sizeof(root)) ? 0 : -1;
}

static int teardown(void **state)
{
	fk_stop(root);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_of_root_hubs_devices_and_interfaces),
		cmocka_unit_test(malformed_names_are_other),
		cmocka_unit_test(ids_with_and_without_serial),
		cmocka_unit_test(locations_in_tree_order),
		cmocka_unit_test(keyboards_by_their_keys),
		cmocka_unit_test(lookup_by_location_id_and_serial),
		cmocka_unit_test(scan_sorted_without_root_hubs),
		cmocka_unit_test(scan_attributes_controllers_and_states),
		cmocka_unit_test(second_keyboard_frees_the_usb_one),
		cmocka_unit_test(no_usb_at_all_is_an_empty_list),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
