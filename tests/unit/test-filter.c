#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "devpass.h"

static struct dp_pci_device gpu(void)
{
	struct dp_pci_device d;
	memset(&d, 0, sizeof(d));
	dp_pci_addr_parse("0000:01:00.1", &d.addr);
	d.vendor = 0x10de;
	d.device = 0x1aef;
	d.class_code = 0x040300;
	d.iommu_group = 12;
	strcpy(d.driver, "snd_hda_intel");
	return d;
}

static void classes_by_name_and_hex(void **state)
{
	struct dp_pci_filter f;
	struct dp_pci_device d = gpu();
	dp_filter_init(&f);
	assert_int_equal(dp_filter_set_class(&f, "audio"), 0);
	assert_true(dp_filter_match(&f, &d));
	assert_int_equal(dp_filter_set_class(&f, "gpu"), 0);
	assert_false(dp_filter_match(&f, &d));
	assert_int_equal(dp_filter_set_class(&f, "0403"), 0);
	assert_true(dp_filter_match(&f, &d));
	assert_int_equal(dp_filter_set_class(&f, "04"), 0);
	assert_true(dp_filter_match(&f, &d));
	assert_true(dp_filter_set_class(&f, "toaster") < 0);
	assert_non_null(strstr(dp_error_message(), "toaster"));
}

static void ids_driver_group(void **state)
{
	struct dp_pci_filter f;
	struct dp_pci_device d = gpu();
	dp_filter_init(&f);
	assert_int_equal(dp_filter_add_device(&f, "10de:1aef"), 0);
	assert_true(dp_filter_match(&f, &d));
	/* keys combine with AND, whatever their order */
	assert_int_equal(dp_filter_add_vendor(&f, "8086"), 0);
	assert_false(dp_filter_match(&f, &d));
	assert_true(dp_filter_add_device(&f, "10de") < 0);
	assert_true(dp_filter_add_vendor(&f, "10dex") < 0);
	dp_filter_init(&f);
	assert_int_equal(dp_filter_add_driver(&f, "none"), 0);
	assert_false(dp_filter_match(&f, &d));
	d.driver[0] = '\0';
	assert_true(dp_filter_match(&f, &d));
	dp_filter_init(&f);
	assert_int_equal(dp_filter_add_group(&f, "13"), 0);
	assert_false(dp_filter_match(&f, &d));
}

static void lists_and_forms(void **state)
{
	struct dp_pci_filter f;
	struct dp_pci_device d = gpu();
	dp_filter_init(&f);
	/* values of one key are alternatives, as in pool rules; repeating the option adds */
	assert_int_equal(dp_filter_add_class(&f, "gpu,audio"), 0);
	assert_int_equal(dp_filter_add_vendor(&f, "8086"), 0);
	assert_false(dp_filter_match(&f, &d));
	assert_int_equal(dp_filter_add_vendor(&f, "15b3,10de"), 0);
	assert_true(dp_filter_match(&f, &d));
	dp_filter_init(&f);
	assert_int_equal(dp_filter_add_device(&f, "10de:"), 0);   /* lspci -d 10de: */
	assert_true(dp_filter_match(&f, &d));
	dp_filter_init(&f);
	assert_int_equal(dp_filter_add_device(&f, ":2204"), 0);
	assert_false(dp_filter_match(&f, &d));
	dp_filter_init(&f);
	assert_int_equal(dp_filter_add_class(&f, "0x0403"), 0);   /* as sysfs writes it */
	assert_true(dp_filter_match(&f, &d));
	dp_filter_init(&f);
	assert_int_equal(dp_filter_add_driver(&f, "snd-hda-intel"), 0);
	assert_true(dp_filter_match(&f, &d));
	assert_true(dp_driver_name_equal("vfio_pci", "vfio-pci"));
	assert_false(dp_driver_name_equal("vfio_pci", "vfio-pci2"));
	assert_true(dp_filter_add_group(&f, "4294967297") < 0);   /* no wrap to group 1 */
	assert_true(dp_filter_add_group(&f, "-1") < 0);
	assert_true(dp_filter_add_vendor(&f, "10de,") < 0);
	assert_true(dp_filter_add_device(&f, ":") < 0);
}

static void lspci_selectors(void **state)
{
	static const struct { const char *sel; bool match; } cases[] = {
		{"01:00.1", true}, {"0000:01:00.1", true}, {"01:00", true}, {"01:", true},
		{".1", true}, {"00.1", true}, {"*:*.*", true}, {"02:00.1", false},
		{"0001:01:00.1", false}, {"01:00.0", false}, {"1:0.1", true},
	};
	struct dp_pci_device d = gpu();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dp_pci_filter f;
		dp_filter_init(&f);
		assert_int_equal(dp_filter_add_selector(&f, cases[i].sel), 0);
		if (dp_filter_match(&f, &d) != cases[i].match)
			fail_msg("selector %s", cases[i].sel);
	}
	static const char *const bad[] = {"zz:00.0", "01:00.9", "0:0:0:0.0", "01:20.0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dp_pci_filter f;
		dp_filter_init(&f);
		if (dp_filter_add_selector(&f, bad[i]) == 0)
			fail_msg("selector %s accepted", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(classes_by_name_and_hex),
		cmocka_unit_test(ids_driver_group),
		cmocka_unit_test(lists_and_forms),
		cmocka_unit_test(lspci_selectors),
	};
	return cmocka_run_group_tests_name("filter", tests, NULL, NULL);
}
