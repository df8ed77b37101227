/* Capability parsing from a config space image built here byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "devpass.h"
#include "inventory/inventory.h"

static uint8_t cfg[4096];

static void put16(size_t off, unsigned v)
{
	cfg[off] = v & 0xff;
	cfg[off + 1] = (v >> 8) & 0xff;
}

static void put32(size_t off, uint32_t v)
{
	put16(off, v & 0xffff);
	put16(off + 2, v >> 16);
}

/* An endpoint with PM (soft reset allowed) at 0x40, PCIe at 0x50 (FLR, Gen4 x16 capable,
 * Gen3 x8 running), then ACS at 0x100, DSN at 0x110, SR-IOV at 0x120. */
static void build(void)
{
	memset(cfg, 0, sizeof(cfg));
	put16(0x00, 0x10de);
	put16(0x02, 0x2204);
	put16(0x06, 0x0010);                 /* status: capability list */
	cfg[0x0e] = 0x80;                    /* multifunction, type 0 */
	cfg[0x34] = 0x40;
	cfg[0x40] = 0x01; cfg[0x41] = 0x50;  /* PM -> PCIe */
	put16(0x44, 0x0000);                 /* PMCSR: No_Soft_Reset clear */
	cfg[0x50] = 0x10; cfg[0x51] = 0x00;  /* PCIe, end of list */
	put16(0x52, 0x0002);                 /* version 2, type endpoint */
	put32(0x54, 0x10000000);             /* DevCap: FLR */
	put32(0x5c, (16u << 4) | 4);         /* LnkCap: x16, 16GT/s */
	put16(0x62, (8u << 4) | 3);          /* LnkSta: x8, 8GT/s */
	put32(0x100, 0x0d | (1u << 16) | (0x110u << 20));   /* ACS */
	put16(0x104, 0x001f);
	put16(0x106, 0x0011);
	put32(0x110, 0x03 | (1u << 16) | (0x120u << 20));   /* DSN */
	put32(0x114, 0x44332211);
	put32(0x118, 0x88776655);
	put32(0x120, 0x10 | (1u << 16));                    /* SR-IOV, last */
}

static void finds_pcie_link_and_flr(void **state)
{
	struct dp_pci_details d = {0};
	build();
	assert_int_equal(dp_pci_config_parse(cfg, sizeof(cfg), &d), 0);
	assert_int_equal(d.pcie_type, 0);
	assert_true(d.flr);
	assert_true(d.pm_reset);
	assert_true(d.link.present);
	assert_int_equal(d.link.cap_width, 16);
	assert_int_equal(d.link.sta_width, 8);
	assert_string_equal(dp_pcie_speed_name(d.link.cap_speed), "16GT/s");
	assert_string_equal(dp_pcie_speed_name(d.link.sta_speed), "8GT/s");
}

static void finds_extended_capabilities(void **state)
{
	struct dp_pci_details d = {0};
	build();
	dp_pci_config_parse(cfg, sizeof(cfg), &d);
	assert_true(d.acs);
	assert_int_equal(d.acs_cap, 0x1f);
	assert_int_equal(d.acs_ctrl, 0x11);
	assert_true(d.has_dsn);
	assert_true(d.dsn == 0x8877665544332211ull);
	assert_true(d.sriov_cap);
}

static void short_config_has_no_extended_caps(void **state)
{
	struct dp_pci_details d = {0};
	build();
	assert_int_equal(dp_pci_config_parse(cfg, 256, &d), 0);   /* unprivileged read */
	assert_false(d.acs);
	assert_true(d.flr);
	assert_true(dp_pci_config_parse(cfg, 32, &d) < 0);
}

static void no_soft_reset_means_no_pm_reset(void **state)
{
	struct dp_pci_details d = {0};
	build();
	put16(0x44, 0x0008);
	dp_pci_config_parse(cfg, sizeof(cfg), &d);
	assert_false(d.pm_reset);
}

static void capability_loops_terminate(void **state)
{
	struct dp_pci_details d = {0};
	build();
	cfg[0x51] = 0x40;                               /* PCIe points back to PM */
	put32(0x120, 0x10 | (1u << 16) | (0x100u << 20)); /* SR-IOV points back to ACS */
	assert_int_equal(dp_pci_config_parse(cfg, sizeof(cfg), &d), 0);
	assert_true(d.flr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_pcie_link_and_flr),
		cmocka_unit_test(finds_extended_capabilities),
		cmocka_unit_test(short_config_has_no_extended_caps),
		cmocka_unit_test(no_soft_reset_means_no_pm_reset),
		cmocka_unit_test(capability_loops_terminate),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
