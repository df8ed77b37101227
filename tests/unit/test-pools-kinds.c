/* Pools of the other kinds: the keys each pool type takes, rules matched against USB
 * devices and mdev types (class by device or interface, ports, serials, parents), and
 * mdev pool claims over the `mdev` fixture with the fake kernel (create, take back on a
 * failed create, release, gc). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "devpass.h"
#include "fakekernel.h"
#include "fs/sysroot.h"

#define P40 "0000:60:00.0"
#define MTTY2_AVAIL "sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-2/available_instances"
#define P40_4Q_AVAIL "sys/bus/pci/devices/" P40 "/mdev_supported_types/nvidia-63/available_instances"

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

static char root[PATH_MAX];
static struct fk_state *fk;
static struct dp_pci_list pci;

static int fx_setup(void **state)
{
	(void)state;
	if (!(fk = fk_start("mdev", root, sizeof(root))) || dp_pci_scan_flags(&pci, DP_SCAN_NAMES) < 0)
		return -1;
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	dp_pci_list_free(&pci);
	fk_stop(root);
	return 0;
}

static int avail(const char *path)
{
	char buf[32];
	return dp_fs_read_line(path, buf, sizeof(buf)) < 0 ? -1 : atoi(buf);
}

static void mdev_pool(const char *name, const char *rule)
{
	assert_int_equal(dp_pool_create(name, DP_POOL_MDEV, "", DP_RELEASE_RESTORE), 0);
	assert_true(dp_pool_rule_add(name, rule, &pci) >= 0);
}

static struct dp_claim_request mdev_request(const char *pool, const char *owner, unsigned n)
{
	struct dp_claim_request req = {.pool = pool, .owner = owner, .count = n,
	                               .numa = DP_NO_NUMA, .timeout_ms = 2000};
	return req;
}

static bool mdev_exists(const char *uuid)
{
	char path[128];
	snprintf(path, sizeof(path), "sys/bus/mdev/devices/%s", uuid);
	return dp_fs_exists(path);
}

static void mdev_claim_creates_and_release_removes(void **s)
{
	(void)s;
	struct dp_claim_list c = {0}, rel = {0}, list = {0};
	mdev_pool("tty", "parent=mtty type=mtty-2");
	struct dp_claim_request req = mdev_request("tty", "vm1", 2);
	assert_int_equal(dp_pool_claim(&pci, &req, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(avail(MTTY2_AVAIL), 9);
	for (size_t i = 0; i < c.n; i++) {
		assert_string_equal(c.c[i].address, "mtty");
		assert_true(dp_mdev_uuid_valid(c.c[i].functions.v[0]));
		assert_true(mdev_exists(c.c[i].functions.v[0]));
	}
	assert_int_equal(dp_claims_read(&pci, "vm1", &list), 0);
	assert_int_equal(list.n, 2);
	assert_int_equal(dp_pool_release(&pci, "vm1", NULL, 0, 2000, &rel), 0);
	assert_int_equal(avail(MTTY2_AVAIL), 11);
	for (size_t i = 0; i < c.n; i++)
		assert_false(mdev_exists(c.c[i].functions.v[0]));
	dp_claim_list_free(&list);
	assert_int_equal(dp_claims_read(&pci, "vm1", &list), 0);
	assert_int_equal(list.n, 0);
	dp_claim_list_free(&list);
	dp_claim_list_free(&rel);
	dp_claim_list_free(&c);
}

static void mdev_claim_failed_create_takes_back(void **s)
{
	(void)s;
	struct dp_claim_list c = {0}, list = {0};
	mdev_pool("p40", "parent=" P40 " type=nvidia-63");
	fk->fault = FK_MDEV_CREATE_EUSERS;
	fk->fault_at = 3;
	struct dp_claim_request req = mdev_request("p40", "vm2", 3);
	assert_int_equal(dp_pool_claim(&pci, &req, &c), -EUSERS);
	assert_non_null(strstr(dp_error_message(), "2 mediated device(s) made for this claim were "
	                                           "removed again"));
	fk->fault = FK_NONE;
	assert_int_equal(avail(P40_4Q_AVAIL), 5);
	assert_int_equal(dp_claims_read(&pci, "vm2", &list), 0);
	assert_int_equal(list.n, 0);
	dp_claim_list_free(&list);
	dp_claim_list_free(&c);
}

static void mdev_claim_beyond_capacity_refused(void **s)
{
	(void)s;
	struct dp_claim_list c = {0};
	mdev_pool("p40", "parent=" P40 " type=nvidia-63");
	struct dp_claim_request req = mdev_request("p40", "vm3", 6);
	int writes = fk->writes;
	assert_int_equal(dp_pool_claim(&pci, &req, &c), -EBUSY);
	assert_non_null(strstr(dp_error_message(), "can make 5 mediated device(s) now, 6 asked"));
	assert_int_equal(fk->writes, writes);   /* refused before any create */
	dp_claim_list_free(&c);
}

static void mdev_claim_prefers_the_node(void **s)
{
	(void)s;
	struct dp_claim_list c = {0}, rel = {0};
	mdev_pool("any", "type=mtty-2");
	assert_true(dp_pool_rule_add("any", "type=nvidia-63", &pci) >= 0);
	const struct dp_pci_device *p40 = dp_pci_list_find(&pci, P40);
	assert_non_null(p40);
	struct dp_claim_request req = mdev_request("any", "vm4", 1);
	req.numa = p40->numa_node;
	assert_int_equal(dp_pool_claim(&pci, &req, &c), 0);
	assert_string_equal(c.c[0].address, P40);   /* mtty sorts first but has no node */
	assert_int_equal(dp_pool_release(&pci, "vm4", NULL, 0, 2000, &rel), 0);
	dp_claim_list_free(&rel);
	dp_claim_list_free(&c);
}

static void mdev_pool_members_show_pairs_and_claims(void **s)
{
	(void)s;
	struct dp_claim_list c = {0}, rel = {0};
	struct dp_pool_members m = {0};
	mdev_pool("tty", "parent=mtty type=mtty-2");
	struct dp_claim_request req = mdev_request("tty", "vm5", 1);
	assert_int_equal(dp_pool_claim(&pci, &req, &c), 0);
	assert_int_equal(dp_pool_members_read(&pci, "tty", &m), 0);
	assert_int_equal(m.n, 2);
	bool pair = false, claimed = false;
	for (size_t i = 0; i < m.n; i++) {
		pair |= m.m[i].state == DP_MEMBER_FREE && strstr(m.m[i].reason, "mtty-2: 10 available");
		claimed |= m.m[i].state == DP_MEMBER_CLAIMED && strstr(m.m[i].reason, c.c[0].functions.v[0])
		           && strcmp(m.m[i].owner, "vm5") == 0;
	}
	assert_true(pair);
	assert_true(claimed);
	assert_int_equal(dp_pool_release(&pci, "vm5", NULL, 0, 2000, &rel), 0);
	dp_pool_members_free(&m);
	dp_claim_list_free(&rel);
	dp_claim_list_free(&c);
}

/* A claim whose process is gone: gc removes its devices; a release by uuid takes only
 * that one. */
static void mdev_gc_and_release_by_uuid(void **s)
{
	(void)s;
	struct dp_claim_list c = {0}, keep = {0}, rel = {0}, list = {0};
	mdev_pool("tty", "parent=mtty type=mtty-2");
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	struct dp_claim_request req = mdev_request("tty", "gone", 1);
	req.pid = child;
	assert_int_equal(dp_pool_claim(&pci, &req, &c), 0);
	waitpid(child, NULL, 0);
	req = mdev_request("tty", "alive", 2);
	assert_int_equal(dp_pool_claim(&pci, &req, &keep), 0);
	assert_int_equal(avail(MTTY2_AVAIL), 8);
	assert_int_equal(dp_pool_gc(&pci, 2000, &rel), 0);
	assert_int_equal(rel.n, 1);
	assert_false(mdev_exists(c.c[0].functions.v[0]));
	assert_int_equal(avail(MTTY2_AVAIL), 9);
	dp_claim_list_free(&rel);
	char *one[] = {keep.c[1].functions.v[0]};
	assert_int_equal(dp_pool_release(&pci, "alive", one, 1, 2000, &rel), 0);
	assert_false(mdev_exists(one[0]));
	assert_true(mdev_exists(keep.c[0].functions.v[0]));
	assert_int_equal(dp_claims_read(&pci, "alive", &list), 0);
	assert_int_equal(list.n, 1);
	dp_claim_list_free(&list);
	dp_claim_list_free(&rel);
	dp_claim_list_free(&keep);
	dp_claim_list_free(&c);
}

/* A device a VFIO user still holds: the release fails, the record stays. */
static void mdev_release_of_a_held_device_keeps_the_claim(void **s)
{
	(void)s;
	struct dp_claim_list c = {0}, rel = {0}, list = {0};
	mdev_pool("tty", "parent=mtty type=mtty-2");
	struct dp_claim_request req = mdev_request("tty", "vm6", 1);
	assert_int_equal(dp_pool_claim(&pci, &req, &c), 0);
	fk->fault = FK_MDEV_REMOVE_HANGS;
	fk->fault_at = 1;
	assert_int_equal(dp_pool_release(&pci, "vm6", NULL, 0, 300, &rel), -EBUSY);
	fk->fault = FK_NONE;
	assert_int_equal(dp_claims_read(&pci, "vm6", &list), 0);
	assert_int_equal(list.n, 1);
	dp_claim_list_free(&list);
	dp_claim_list_free(&rel);
	dp_claim_list_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_per_type),
		cmocka_unit_test(test_port_values),
		cmocka_unit_test(test_usb_match),
		cmocka_unit_test(test_mdev_match),
		cmocka_unit_test_setup_teardown(mdev_claim_creates_and_release_removes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(mdev_claim_failed_create_takes_back, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(mdev_claim_beyond_capacity_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(mdev_claim_prefers_the_node, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(mdev_pool_members_show_pairs_and_claims, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(mdev_gc_and_release_by_uuid, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(mdev_release_of_a_held_device_keeps_the_claim, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
