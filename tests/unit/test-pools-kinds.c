/* Pools of the other kinds: the keys each pool type takes, and rules matched against USB
 * devices and mdev types (class by device or interface, ports, serials, parents). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devpass.h"

static void rule_parse_ok(const char *text, struct dp_rule *rule)
{
	if (dp_rule_parse(text, rule, NULL) < 0)
		fail_msg("'%s' did not parse: %s", text, dp_error_message());
}

static void assert_type_ok(const char *text, enum dp_pool_type type)
{
	struct dp_rule rule;
	rule_parse_ok(text, &rule);
	if (dp_rule_check_type(&rule, type) < 0)
		fail_msg("'%s' refused for %s: %s", text, dp_pool_type_name(type), dp_error_message());
	dp_rule_free(&rule);
}

static void assert_type_refused(const char *text, enum dp_pool_type type, const char *why)
{
	struct dp_rule rule;
	rule_parse_ok(text, &rule);
	assert_int_equal(dp_rule_check_type(&rule, type), -22);
	if (!strstr(dp_error_message(), why))
		fail_msg("'%s' for %s: message '%s' lacks '%s'", text, dp_pool_type_name(type),
		         dp_error_message(), why);
	dp_rule_free(&rule);
}

static void test_keys_per_type(void **s)
{
	(void)s;
	assert_type_ok("id=046d:c52b serial=ABC* port=1-1.2 class=hid name=*Logitech* "
	               "controller=0000:00:14.0", DP_POOL_USB);
	assert_type_ok("class=08 vendor=0781", DP_POOL_USB);
	assert_type_ok("parent=0000:00:02.0 type=i915-GVTg_V5_* name=*", DP_POOL_MDEV);
	assert_type_ok("id=10de:* class=gpu numa=0", DP_POOL_PCI);
	assert_type_ok("physfn=04:00.0", DP_POOL_SRIOV_VF);
	assert_type_refused("port=1-1", DP_POOL_PCI, "port= is not a key of pci pools");
	assert_type_refused("controller=dummy_hcd.0", DP_POOL_SRIOV_VF, "not a key of sriov-vf");
	assert_type_refused("address=01:00.0", DP_POOL_USB, "their keys: vendor, device, id, serial, "
	                    "port");
	assert_type_refused("numa=0", DP_POOL_USB, "numa= is not a key of usb pools");
	assert_type_refused("id=10de:2204", DP_POOL_MDEV, "their keys: parent, type, name");
	assert_type_refused("parent=0000:00:02.0", DP_POOL_PCI, "parent= is not a key");
	/* class names belong to one bus */
	assert_type_refused("class=gpu", DP_POOL_USB, "class=gpu is not a USB class");
	assert_type_refused("class=hid", DP_POOL_PCI, "class=hid is not a PCI class");
	assert_type_refused("class=0302", DP_POOL_USB, "not a USB class");
}

static void test_port_values(void **s)
{
	(void)s;
	struct dp_rule rule;
	size_t pos = 99;
	rule_parse_ok("port=3-1.2,1-*", &rule);
	assert_string_equal(rule.text, "port=3-1.2,1-*");
	dp_rule_free(&rule);
	assert_int_equal(dp_rule_parse("port=usb1/../x", &rule, &pos), -22);
	assert_non_null(strstr(dp_error_message(), "port=usb1/../x is not valid"));
	assert_int_equal(pos, 5);
	assert_int_equal(dp_rule_parse("class=nonsense", &rule, &pos), -22);
}

static const uint8_t keyboard_ifs[] = {0x03, 0x03};
static const struct dp_rule_usb_subject keyboard = {
	.vendor = 0x046d, .product = 0xc52b, .serial = "", .port = "1-1.2",
	.cls = 0x00, .if_classes = keyboard_ifs, .nifs = 2,
	.name = "Logitech, Inc. Unifying Receiver", .controller = "0000:00:14.0"};
static const uint8_t stick_ifs[] = {0x08};
static const struct dp_rule_usb_subject stick = {
	.vendor = 0x0781, .product = 0x5581, .serial = "4C530001230", .port = "3-2",
	.cls = 0x00, .if_classes = stick_ifs, .nifs = 1, .name = "SanDisk Corp. Ultra",
	.controller = "dummy_hcd.0"};

static bool usb_matches(const char *text, const struct dp_rule_usb_subject *d)
{
	struct dp_rule rule;
	rule_parse_ok(text, &rule);
	bool m = dp_rule_match_usb(&rule, d);
	dp_rule_free(&rule);
	return m;
}

static void test_usb_match(void **s)
{
	(void)s;
	assert_true(usb_matches("id=046d:c52b", &keyboard));
	assert_false(usb_matches("id=046d:c52b", &stick));
	assert_true(usb_matches("vendor=781 device=5581", &stick));
	assert_true(usb_matches("class=hid", &keyboard));      /* by its interfaces */
	assert_true(usb_matches("class=03", &keyboard));
	assert_false(usb_matches("class=hid", &stick));
	assert_true(usb_matches("class=storage,hid", &stick));
	assert_true(usb_matches("port=1-1.*", &keyboard));
	assert_false(usb_matches("port=1-1", &keyboard));      /* the hub's port, not the device */
	assert_true(usb_matches("serial=4C53*", &stick));
	assert_false(usb_matches("serial=*", &keyboard));      /* no serial matches no serial */
	assert_true(usb_matches("name=*unifying*", &keyboard));
	assert_true(usb_matches("controller=dummy_hcd.*", &stick));
	assert_false(usb_matches("controller=0000:*", &stick));
	assert_false(usb_matches("id=046d:c52b port=3-2", &keyboard));   /* AND */
}

static bool mdev_matches(const char *text, const struct dp_rule_mdev_subject *t)
{
	struct dp_rule rule;
	rule_parse_ok(text, &rule);
	bool m = dp_rule_match_mdev(&rule, t);
	dp_rule_free(&rule);
	return m;
}

static void test_mdev_match(void **s)
{
	(void)s;
	const struct dp_rule_mdev_subject gvt = {"0000:00:02.0", "i915-GVTg_V5_4", "GVTg_V5_4"};
	const struct dp_rule_mdev_subject mdpy = {"mdpy", "mdpy-mdpy-vga", ""};
	assert_true(mdev_matches("type=i915-GVTg_V5_4", &gvt));
	assert_true(mdev_matches("parent=0000:00:02.0 type=i915-*", &gvt));
	assert_false(mdev_matches("parent=0000:00:02.0", &mdpy));
	assert_true(mdev_matches("name=gvtg_v5_*", &gvt));
	assert_true(mdev_matches("name=*", &mdpy));   /* a type without a name is ""  */
	assert_true(mdev_matches("type=mdpy-*", &mdpy));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_per_type),
		cmocka_unit_test(test_port_values),
		cmocka_unit_test(test_usb_match),
		cmocka_unit_test(test_mdev_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
