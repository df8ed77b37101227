#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "devpass.h"
#include "inventory/inventory.h"

static void parses_full_and_short_forms(void **state)
{
	struct dp_pci_addr a;
	char out[DP_ADDR_LEN];
	assert_int_equal(dp_pci_addr_parse("0000:01:00.0", &a), 0);
	assert_int_equal(a.bus, 1);
	assert_int_equal(dp_pci_addr_parse("01:00.1", &a), 0);
	assert_int_equal(a.domain, 0);
	assert_int_equal(a.func, 1);
	dp_pci_addr_format(&a, out);
	assert_string_equal(out, "0000:01:00.1");
	assert_int_equal(dp_pci_addr_parse("0001:AF:1f.7", &a), 0);
	dp_pci_addr_format(&a, out);
	assert_string_equal(out, "0001:af:1f.7");
	assert_int_equal(dp_pci_addr_parse("10000:00:02.0", &a), 0);   /* VMD domain */
	dp_pci_addr_format(&a, out);
	assert_string_equal(out, "10000:00:02.0");
}

static void rejects_bad_input_with_a_message(void **state)
{
	static const char *const bad[] = {"zz", "../../etc", "0000:01:00.9", "01:20.0", "",
	                                  "0000:01:00.0/../x", "1:2:3:4.0", "01:00", "0000:001:00.0",
	                                  "01:00.0 ", "-1:00.0"};
	struct dp_pci_addr a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(dp_pci_addr_parse(bad[i], &a) < 0);
		assert_non_null(strstr(dp_error_message(), "PCI address"));
	}
	assert_true(dp_pci_addr_parse(NULL, &a) < 0);
}

static void recognises_sysfs_names_only_in_canonical_form(void **state)
{
	assert_true(dp_pci_addr_is_valid_name("0000:00:1f.3"));
	assert_false(dp_pci_addr_is_valid_name("0000:00:1F.3"));
	assert_false(dp_pci_addr_is_valid_name("00:1f.3"));
	assert_false(dp_pci_addr_is_valid_name("pci0000:00"));
	assert_false(dp_pci_addr_is_valid_name("nvme0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_full_and_short_forms),
		cmocka_unit_test(rejects_bad_input_with_a_message),
		cmocka_unit_test(recognises_sysfs_names_only_in_canonical_form),
	};
	return cmocka_run_group_tests_name("address", tests, NULL, NULL);
}
