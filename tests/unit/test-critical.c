/* The kernel text formats host-critical detection parses (critical-parse.c, compiled in
 * here: these are internal functions, not the library's API). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "inventory/critical.h"

static void mountinfo_line_with_optional_fields_and_escapes(void **state)
{
	char line[] = "36 35 98:0 /sub /mnt/my\\040disk rw,noatime master:1 shared:2 - ext4 "
	              "/dev/nvme0n1p1 rw,errors=continue";
	struct crit_mount m;
	assert_true(crit_mountinfo_parse_line(line, &m));
	assert_int_equal(m.major, 98);
	assert_int_equal(m.minor, 0);
	assert_string_equal(m.root, "/sub");
	assert_string_equal(m.point, "/mnt/my disk");
	assert_string_equal(m.fstype, "ext4");
	assert_string_equal(m.source, "/dev/nvme0n1p1");
	assert_string_equal(m.options, "rw,errors=continue");
}

static void mountinfo_rejects_truncated_lines(void **state)
{
	char a[] = "36 35 98:0 / /mnt rw", b[] = "36 35 x / /mnt rw - ext4 /dev/sda rw", c[] = "";
	struct crit_mount m;
	assert_false(crit_mountinfo_parse_line(a, &m));
	assert_false(crit_mountinfo_parse_line(b, &m));
	assert_false(crit_mountinfo_parse_line(c, &m));
}

static void options_by_exact_key(void **state)
{
	char buf[64];
	const char *opts = "rw,clientaddr=10.0.0.1,addr=10.99.0.2,vers=4.2";
	assert_true(crit_option(opts, "addr", buf, sizeof(buf)));
	assert_string_equal(buf, "10.99.0.2");   /* not clientaddr's */
	assert_true(crit_option(opts, "vers", buf, sizeof(buf)));
	assert_string_equal(buf, "4.2");
	assert_false(crit_option(opts, "trans", buf, sizeof(buf)));
	assert_false(crit_option("", "addr", buf, sizeof(buf)));
}

static void netfs_servers(void **state)
{
	char buf[64];
	assert_true(crit_netfs_server("nfs4", "10.99.0.2:/export", "rw,addr=10.99.0.2", buf, sizeof(buf)));
	assert_string_equal(buf, "10.99.0.2");
	assert_true(crit_netfs_server("nfs", "10.1.2.3:/x", "rw", buf, sizeof(buf)));
	assert_string_equal(buf, "10.1.2.3");
	assert_true(crit_netfs_server("cifs", "//192.168.7.9/share", "rw,vers=3.1.1", buf, sizeof(buf)));
	assert_string_equal(buf, "192.168.7.9");
	assert_true(crit_netfs_server("nfs", "[fd00::2]:/export", "rw", buf, sizeof(buf)));
	assert_string_equal(buf, "fd00::2");
	assert_true(crit_netfs_server("ceph", "10.0.0.1:6789,10.0.0.2:6789:/", "rw,name=admin", buf, sizeof(buf)));
	assert_string_equal(buf, "10.0.0.1");
	assert_true(crit_netfs_server("9p", "10.5.5.5", "rw,trans=tcp,port=564", buf, sizeof(buf)));
	assert_string_equal(buf, "10.5.5.5");
	assert_false(crit_netfs_server("nfs", "filer.example:/x", "rw", buf, sizeof(buf)));   /* a name only */
	assert_false(crit_netfs_server("ext4", "/dev/sda1", "rw,addr=10.0.0.1", buf, sizeof(buf)));
	assert_false(crit_netfs_server("9p", "hostshare", "rw,trans=virtio", buf, sizeof(buf)));
}

static void nvme_fabrics_address(void **state)
{
	char buf[64];
	assert_true(crit_nvme_traddr("traddr=10.0.0.2,trsvcid=4420,src_addr=10.0.0.1", buf, sizeof(buf)));
	assert_string_equal(buf, "10.0.0.2");
	assert_false(crit_nvme_traddr("traddr=nqn.fc-host,host_traddr=x", buf, sizeof(buf)));
}

static void route4_longest_prefix_then_metric(void **state)
{
	const char *lines[] = {
		"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
		"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
		"eth1\t0000630A\t0101A8C0\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0",     /* 10.99/16 */
		"eth2\t0000630A\t00000000\t0001\t0\t0\t300\t00FFFFFF\t0\t0\t0",   /* 10.99.0/24 */
		"eth3\t0000630A\t00000000\t0001\t0\t0\t200\t00FFFFFF\t0\t0\t0",   /* same, lower metric */
		"eth4\t0000630A\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0",     /* not up */
	};
	struct crit_route r[8];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(lines) / sizeof(*lines); i++)
		if (crit_route4_parse(lines[i], &r[n]))
			n++;
	assert_int_equal(n, 4);
	assert_int_equal(r[0].plen, 0);
	assert_int_equal(r[2].plen, 24);
	assert_string_equal(crit_route_lookup(r, n, "10.99.0.2")->ifname, "eth3");
	assert_string_equal(crit_route_lookup(r, n, "10.99.7.2")->ifname, "eth1");
	assert_string_equal(crit_route_lookup(r, n, "8.8.8.8")->ifname, "eth0");
	assert_null(crit_route_lookup(r, n, "fd00::1"));
	assert_null(crit_route_lookup(r, n, "not-an-address"));
}

static void route6_parse_and_lookup(void **state)
{
	struct crit_route r[3];
	assert_true(crit_route6_parse("fd000099000000000000000000000000 40 00000000000000000000000000000000 00 "
	                              "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth9", &r[0]));
	assert_true(crit_route6_parse("00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
	                              "fe80000000000000021b21fffe0a0b01 00000400 00000001 00000000 00450003     eth0", &r[1]));
	/* the kernel's unreachable default on lo is a reject route */
	assert_false(crit_route6_parse("00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
	                               "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo", &r[2]));
	assert_int_equal(r[0].plen, 64);
	assert_string_equal(crit_route_lookup(r, 2, "fd00:99::2")->ifname, "eth9");
	assert_string_equal(crit_route_lookup(r, 2, "2001:db8::1")->ifname, "eth0");
	assert_null(crit_route_lookup(r, 2, "10.0.0.1"));
}

static void unescape_octal_only(void **state)
{
	char s[] = "/a\\040b\\011c\\134d\\9e";
	crit_unescape(s);
	assert_string_equal(s, "/a b\tc\\d\\9e");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mountinfo_line_with_optional_fields_and_escapes),
		cmocka_unit_test(mountinfo_rejects_truncated_lines),
		cmocka_unit_test(options_by_exact_key),
		cmocka_unit_test(netfs_servers),
		cmocka_unit_test(nvme_fabrics_address),
		cmocka_unit_test(route4_longest_prefix_then_metric),
		cmocka_unit_test(route6_parse_and_lookup),
		cmocka_unit_test(unescape_octal_only),
	};
	return cmocka_run_group_tests_name("critical", tests, NULL, NULL);
}
