/* The export unit without a host: guest placement rules on hand-made hostdev sets, and the
 * elements each kind renders to (the fixture tests validate the same output against
 * libvirt's schemas). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "export/export.h"

static struct dp_hostdev *pci(struct dp_hostdev_set *s, const char *address, int group)
{
	struct dp_hostdev *h = dp_hostdev_set_append(s);
	assert_non_null(h);
	h->kind = DP_HOSTDEV_PCI;
	h->group = group;
	snprintf(h->address, sizeof(h->address), "%s", address);
	snprintf(h->alias, sizeof(h->alias), "ua-devpass-pci-%zu", s->n);
	return h;
}

static void guest_is(const struct dp_hostdev *h, int bus, int function, bool multi)
{
	assert_true(h->guest.set);
	assert_int_equal(h->guest.bus, bus);
	assert_int_equal(h->guest.slot, 0);
	assert_int_equal(h->guest.function, function);
	assert_int_equal(h->guest.multifunction, multi);
}

static void gpu_and_audio_share_a_multifunction_slot(void **state)
{
	struct dp_hostdev_set s = {0};
	pci(&s, "0000:41:00.1", 7);   /* listed audio first: the order given does not matter */
	pci(&s, "0000:41:00.0", 7);
	assert_int_equal(dp_hostdev_set_place(&s, 0x10), 0);
	guest_is(&s.h[0], 0x10, 1, false);
	guest_is(&s.h[1], 0x10, 0, true);
	dp_hostdev_set_free(&s);
}

static void each_host_device_gets_its_own_root_port_bus(void **state)
{
	struct dp_hostdev_set s = {0};
	pci(&s, "0000:41:00.0", 7);
	pci(&s, "0000:41:00.1", 7);
	pci(&s, "0000:02:00.0", 10);   /* NVMe */
	pci(&s, "0000:0a:01.0", 22);   /* the same group on another slot: another device */
	assert_int_equal(dp_hostdev_set_place(&s, 5), 0);
	guest_is(&s.h[0], 5, 0, true);
	guest_is(&s.h[1], 5, 1, false);
	guest_is(&s.h[2], 6, 0, false);
	guest_is(&s.h[3], 7, 0, false);
	dp_hostdev_set_free(&s);
}

static void vfs_of_one_slot_are_separate_devices(void **state)
{
	struct dp_hostdev_set s = {0};
	pci(&s, "0000:04:00.3", 14)->kind = DP_HOSTDEV_NET;
	pci(&s, "0000:04:00.4", 15);
	assert_int_equal(dp_hostdev_set_place(&s, 0x20), 0);
	guest_is(&s.h[0], 0x20, 0, false);   /* no function 0 passed: numbered from 0 */
	guest_is(&s.h[1], 0x21, 0, false);
	dp_hostdev_set_free(&s);
}

static void functions_without_function_0_are_renumbered_in_host_order(void **state)
{
	struct dp_hostdev_set s = {0};
	pci(&s, "0000:43:10.5", 30);
	pci(&s, "0000:43:10.2", 30);
	assert_int_equal(dp_hostdev_set_place(&s, 0x10), 0);
	guest_is(&s.h[0], 0x10, 1, false);
	guest_is(&s.h[1], 0x10, 0, true);
	dp_hostdev_set_free(&s);
}

static void usb_gets_no_pci_address_and_mdev_a_bus(void **state)
{
	struct dp_hostdev_set s = {0};
	struct dp_hostdev *u = dp_hostdev_set_append(&s);
	u->kind = DP_HOSTDEV_USB;
	struct dp_hostdev *m = dp_hostdev_set_append(&s);
	m->kind = DP_HOSTDEV_MDEV;
	pci(&s, "0000:01:00.0", 1);
	assert_int_equal(dp_hostdev_set_place(&s, 0x10), 0);
	assert_false(s.h[0].guest.set);
	guest_is(&s.h[1], 0x10, 0, false);
	guest_is(&s.h[2], 0x11, 0, false);
	dp_hostdev_set_free(&s);
}

/* 64 devices on 64 buses, each guest address once */
static void many_devices_never_share_an_address(void **state)
{
	struct dp_hostdev_set s = {0};
	char address[DP_ADDR_LEN];
	for (int i = 0; i < 64; i++) {
		snprintf(address, sizeof(address), "0000:%02x:00.%d", 0x40 + i / 2, i % 2);
		pci(&s, address, 100 + i / 2);
	}
	assert_int_equal(dp_hostdev_set_place(&s, 0x10), 0);
	for (size_t i = 0; i < s.n; i++)
		for (size_t j = i + 1; j < s.n; j++)
			assert_false(s.h[i].guest.bus == s.h[j].guest.bus &&
			             s.h[i].guest.function == s.h[j].guest.function);
	guest_is(&s.h[63], 0x10 + 31, 1, false);
	dp_hostdev_set_free(&s);
}

static void past_bus_ff_is_e2big_and_places_nothing(void **state)
{
	struct dp_hostdev_set s = {0};
	pci(&s, "0000:01:00.0", 1);
	pci(&s, "0000:02:00.0", 2);
	pci(&s, "0000:03:00.0", 3);
	assert_int_equal(dp_hostdev_set_place(&s, 0xfe), -E2BIG);
	for (size_t i = 0; i < s.n; i++)
		assert_false(s.h[i].guest.set);
	assert_int_equal(dp_hostdev_set_place(&s, 0xfd), 0);   /* exactly fits */
	guest_is(&s.h[2], 0xff, 0, false);
	dp_hostdev_set_free(&s);
}

static void first_bus_outside_1_to_ff_is_einval(void **state)
{
	struct dp_hostdev_set s = {0};
	pci(&s, "0000:01:00.0", 1);
	assert_int_equal(dp_hostdev_set_place(&s, 0), -EINVAL);
	assert_int_equal(dp_hostdev_set_place(&s, 0x100), -EINVAL);
	assert_int_equal(dp_hostdev_set_place(&s, -1), -EINVAL);
	dp_hostdev_set_free(&s);
}

static void one_function_twice_is_refused(void **state)
{
	struct dp_hostdev_set s = {0};
	pci(&s, "0000:01:00.0", 1);
	pci(&s, "0000:01:00.0", 1);
	assert_int_equal(dp_hostdev_set_place(&s, 0x10), -EEXIST);
	assert_non_null(strstr(dp_error_message(), "would share guest address 10:00.0"));
	dp_hostdev_set_free(&s);
}

static void malformed_address_is_einval(void **state)
{
	struct dp_hostdev_set s = {0};
	pci(&s, "0000:zz:00.0", 1);
	assert_int_equal(dp_hostdev_set_place(&s, 0x10), -EINVAL);
	char *xml = NULL;
	assert_int_equal(dp_hostdev_xml(&s.h[0], 0, &xml), -EINVAL);
	assert_null(xml);
	dp_hostdev_set_free(&s);
}

/* ---- rendering ---------------------------------------------------------------------- */

static void renders(const struct dp_hostdev *h, unsigned flags, const char *want)
{
	char *xml = NULL;
	assert_int_equal(dp_hostdev_xml(h, flags, &xml), 0);
	assert_string_equal(xml, want);
	free(xml);
}

static void pci_element(void **state)
{
	struct dp_hostdev_set s = {0};
	struct dp_hostdev *h = pci(&s, "0000:41:00.0", 12);
	snprintf(h->alias, sizeof(h->alias), "ua-devpass-pci-0000-41-00-0");
	h->guest = (struct dp_guest_pci){.set = true, .bus = 0x10, .function = 0, .multifunction = true};
	renders(h, 0,
	        "<hostdev mode='subsystem' type='pci' managed='no'>\n"
	        "  <driver name='vfio'/>\n"
	        "  <source>\n"
	        "    <address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/>\n"
	        "  </source>\n"
	        "  <alias name='ua-devpass-pci-0000-41-00-0'/>\n"
	        "  <address type='pci' domain='0x0000' bus='0x10' slot='0x00' function='0x0' "
	        "multifunction='on'/>\n"
	        "</hostdev>\n");
	renders(h, DP_HOSTDEV_XML_NO_ADDRESS,
	        "<hostdev mode='subsystem' type='pci' managed='no'>\n"
	        "  <driver name='vfio'/>\n"
	        "  <source>\n"
	        "    <address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/>\n"
	        "  </source>\n"
	        "  <alias name='ua-devpass-pci-0000-41-00-0'/>\n"
	        "</hostdev>\n");
	dp_hostdev_set_free(&s);
}

static void usb_element_with_and_without_bus_device(void **state)
{
	struct dp_hostdev h = {.kind = DP_HOSTDEV_USB, .usb_vendor = 0x046d, .usb_product = 0xc52b,
	                       .alias = "ua-devpass-usb-046d-c52b", .vlan = -1, .group = -1};
	renders(&h, 0,
	        "<hostdev mode='subsystem' type='usb'>\n"
	        "  <source>\n"
	        "    <vendor id='0x046d'/>\n"
	        "    <product id='0xc52b'/>\n"
	        "  </source>\n"
	        "  <alias name='ua-devpass-usb-046d-c52b'/>\n"
	        "</hostdev>\n");
	h.usb_bus = 1;
	h.usb_device = 5;
	char *xml = NULL;
	assert_int_equal(dp_hostdev_xml(&h, 0, &xml), 0);
	assert_non_null(strstr(xml, "    <address bus='1' device='5'/>\n  </source>"));
	free(xml);
}

static void mdev_element(void **state)
{
	struct dp_hostdev h = {.kind = DP_HOSTDEV_MDEV, .uuid = "c2177883-f1bb-47f0-914d-32a22e3a8804",
	                       .alias = "ua-devpass-mdev-c2177883-f1bb-47f0-914d-32a22e3a8804",
	                       .vlan = -1, .group = -1,
	                       .guest = {.set = true, .bus = 0x11}};
	renders(&h, 0,
	        "<hostdev mode='subsystem' type='mdev' model='vfio-pci'>\n"
	        "  <source>\n"
	        "    <address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/>\n"
	        "  </source>\n"
	        "  <alias name='ua-devpass-mdev-c2177883-f1bb-47f0-914d-32a22e3a8804'/>\n"
	        "  <address type='pci' domain='0x0000' bus='0x11' slot='0x00' function='0x0'/>\n"
	        "</hostdev>\n");
	snprintf(h.uuid, sizeof(h.uuid), "not-a-uuid");
	char *xml = NULL;
	assert_int_equal(dp_hostdev_xml(&h, 0, &xml), -EINVAL);
}

static void vf_with_mac_and_vlan_is_an_interface(void **state)
{
	struct dp_hostdev h = {.kind = DP_HOSTDEV_NET, .address = "0000:43:10.1",
	                       .mac = "52:54:00:6d:90:02", .vlan = 42, .group = 80,
	                       .alias = "ua-devpass-net-0000-43-10-1"};
	renders(&h, 0,
	        "<interface type='hostdev' managed='no'>\n"
	        "  <mac address='52:54:00:6d:90:02'/>\n"
	        "  <source>\n"
	        "    <address type='pci' domain='0x0000' bus='0x43' slot='0x10' function='0x1'/>\n"
	        "  </source>\n"
	        "  <vlan>\n"
	        "    <tag id='42'/>\n"
	        "  </vlan>\n"
	        "  <driver name='vfio'/>\n"
	        "  <alias name='ua-devpass-net-0000-43-10-1'/>\n"
	        "</interface>\n");
	h.mac[0] = '\0';   /* a VLAN alone: no <mac> */
	char *xml = NULL;
	assert_int_equal(dp_hostdev_xml(&h, 0, &xml), 0);
	assert_null(strstr(xml, "<mac"));
	assert_non_null(strstr(xml, "<tag id='42'/>"));
	free(xml);
}

static void set_xml_names_pool_and_group_in_safe_comments(void **state)
{
	struct dp_hostdev_set s = {0};
	struct dp_hostdev *h = pci(&s, "0000:41:00.0", 12);
	snprintf(h->pool, sizeof(h->pool), "gpus--a");   /* "--" may not be in a comment */
	pci(&s, "0000:42:00.0", -1);
	char *xml = NULL;
	assert_int_equal(dp_hostdev_set_xml(&s, 0, &xml), 0);
	assert_non_null(strstr(xml, "<!-- pool gpus-_a, IOMMU group 12 -->\n<hostdev"));
	assert_non_null(strstr(xml, "<!-- no pool -->\n<hostdev"));
	free(xml);
	dp_hostdev_set_free(&s);
}

static void out_of_range_guest_address_is_refused(void **state)
{
	struct dp_hostdev_set s = {0};
	struct dp_hostdev *h = pci(&s, "0000:41:00.0", 12);
	h->guest = (struct dp_guest_pci){.set = true, .bus = 0x100};
	char *xml = NULL;
	assert_int_equal(dp_hostdev_set_xml(&s, 0, &xml), -ERANGE);
	assert_null(xml);
	assert_int_equal(dp_hostdev_set_xml(&s, DP_HOSTDEV_XML_NO_ADDRESS, &xml), -ERANGE);
	dp_hostdev_set_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gpu_and_audio_share_a_multifunction_slot),
		cmocka_unit_test(each_host_device_gets_its_own_root_port_bus),
		cmocka_unit_test(vfs_of_one_slot_are_separate_devices),
		cmocka_unit_test(functions_without_function_0_are_renumbered_in_host_order),
		cmocka_unit_test(usb_gets_no_pci_address_and_mdev_a_bus),
		cmocka_unit_test(many_devices_never_share_an_address),
		cmocka_unit_test(past_bus_ff_is_e2big_and_places_nothing),
		cmocka_unit_test(first_bus_outside_1_to_ff_is_einval),
		cmocka_unit_test(one_function_twice_is_refused),
		cmocka_unit_test(malformed_address_is_einval),
		cmocka_unit_test(pci_element),
		cmocka_unit_test(usb_element_with_and_without_bus_device),
		cmocka_unit_test(mdev_element),
		cmocka_unit_test(vf_with_mac_and_vlan_is_an_interface),
		cmocka_unit_test(set_xml_names_pool_and_group_in_safe_comments),
		cmocka_unit_test(out_of_range_guest_address_is_refused),
	};
	return cmocka_run_group_tests_name("export-xml", tests, NULL, NULL);
}
