/* The libvirt unit without a daemon: domain XML surgery (the next free bus, inserting and
 * removing devpass's elements with their root ports and metadata, reading what a domain
 * passes through), the hook's decisions on given XML over the vfio-gpu fixture with the
 * fake kernel (a free member on its host driver is claimed and bound at prepare), and the
 * hook script written under the root. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "devpass.h"
#include "fixture-env.h"
#include "libvirt/libvirt-int.h"

static const char *const DOMAIN_XML =
	"<domain type='qemu'>\n"
	"  <name>d1</name>\n"
	"  <uuid>c35da933-4bd9-4d0e-926f-6725beb26c32</uuid>\n"
	"  <devices>\n"
	"    <controller type='pci' index='0' model='pcie-root'/>\n"
	"    <controller type='pci' index='2' model='pcie-root-port'>\n"
	"      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>\n"
	"    </controller>\n"
	"    <memballoon model='virtio'>\n"
	"      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0'/>\n"
	"    </memballoon>\n"
	"    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
	"      <source><address domain='0x0000' bus='0x0a' slot='0x00' function='0x0'/></source>\n"
	"    </hostdev>\n"
	"  </devices>\n"
	"</domain>\n";

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ---- the next free bus ------------------------------------------------------------------ */
static void test_first_free_bus(void **s)
{
	(void)s;
	int bus = -1;
	assert_int_equal(lv_xml_first_free_bus(DOMAIN_XML, &bus), 0);
	assert_int_equal(bus, 7);   /* the memballoon's bus 0x06, above controller index 2 */
	assert_int_equal(lv_xml_first_free_bus("<domain><name>x</name></domain>", &bus), 0);
	assert_int_equal(bus, 1);
	assert_int_equal(lv_xml_first_free_bus("<domain><devices><controller type='pci' index='12'/>"
	                                       "</devices></domain>", &bus), 0);
	assert_int_equal(bus, 13);   /* decimal index */
	assert_int_equal(lv_xml_first_free_bus("<domain><devices><controller type='pci' index='255'/>"
	                                       "</devices></domain>", &bus), -E2BIG);
	assert_int_equal(lv_xml_first_free_bus("<domain><devices>", &bus), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "cannot be parsed"));
	assert_int_equal(lv_xml_first_free_bus("<network/>", &bus), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "<domain>"));
	assert_int_equal(lv_xml_first_free_bus(NULL, &bus), -EINVAL);
}

/* ---- insert and remove ------------------------------------------------------------------ */
static void hostdev_fill(struct dp_hostdev *h, const char *address, int bus, int fn)
{
	*h = (struct dp_hostdev){.kind = DP_HOSTDEV_PCI, .vlan = -1, .group = 1};
	snprintf(h->address, sizeof(h->address), "%s", address);
	snprintf(h->alias, sizeof(h->alias), "ua-devpass-pci-%.4s-%.2s-%.2s-%.1s", address,
	         address + 5, address + 8, address + 11);
	snprintf(h->pool, sizeof(h->pool), "gpu");
	h->guest = (struct dp_guest_pci){.set = true, .bus = bus, .slot = 0, .function = fn,
	                                 .multifunction = fn == 0};
}

static char *inserted(void)
{
	struct dp_hostdev h[2];
	hostdev_fill(&h[0], "0000:01:00.0", 7, 0);
	hostdev_fill(&h[1], "0000:01:00.1", 7, 1);
	struct dp_hostdev_set set = {.h = h, .n = 2};
	char *out = NULL;
	if (lv_xml_insert(DOMAIN_XML, &set, "d1", &out) < 0)
		fail_msg("insert: %s", dp_error_message());
	return out;
}

static void test_insert(void **s)
{
	(void)s;
	char *xml = inserted();
	assert_int_equal(count(xml, "<hostdev"), 3);
	assert_int_equal(count(xml, "model=\"pcie-root-port\""), 2);   /* the domain's + one new, bus 7 */
	assert_non_null(strstr(xml, "index=\"7\""));
	assert_non_null(strstr(xml, "alias name=\"ua-devpass-pci-0000-01-00-0\""));
	assert_non_null(strstr(xml, "xmlns:devpass=\"" LV_METADATA_NS "\""));
	assert_non_null(strstr(xml, "pool=\"gpu\" owner=\"d1\""));
	assert_int_equal(count(xml, "<devpass:device "), 2);
	/* <metadata> goes after <uuid> */
	assert_true(strstr(xml, "<metadata>") > strstr(xml, "<uuid>"));
	struct lv_domain d;
	assert_int_equal(lv_domain_parse(xml, &d), 0);
	assert_string_equal(d.name, "d1");
	assert_string_equal(d.uuid, "c35da933-4bd9-4d0e-926f-6725beb26c32");
	assert_int_equal(d.n, 3);
	assert_string_equal(d.s[1].address, "0000:01:00.0");
	assert_true(lv_alias_is_devpass(d.s[2].alias));
	assert_false(lv_alias_is_devpass(d.s[0].alias));
	int bus;
	assert_int_equal(lv_xml_first_free_bus(xml, &bus), 0);
	assert_int_equal(bus, 8);
	lv_domain_free(&d);
	free(xml);
}

static void test_remove_all(void **s)
{
	(void)s;
	char *xml = inserted(), *out = NULL;
	struct lv_domain removed;
	assert_int_equal(lv_xml_remove(xml, NULL, 0, &out, &removed), 0);
	assert_int_equal(removed.n, 2);
	assert_string_equal(removed.s[0].alias, "ua-devpass-pci-0000-01-00-0");
	assert_string_equal(removed.s[0].pool, "gpu");   /* from the metadata */
	assert_int_equal(count(out, "<hostdev"), 1);   /* the domain's own hostdev stays */
	assert_null(strstr(out, "index=\"7\""));       /* devpass's root port goes */
	assert_non_null(strstr(out, "index=\"2\""));   /* the domain's own stays */
	assert_null(strstr(out, "metadata"));
	assert_null(strstr(out, "devpass"));
	lv_domain_free(&removed);
	free(out);
	free(xml);
}

static void test_remove_one(void **s)
{
	(void)s;
	char *xml = inserted(), *out = NULL;
	char *only[] = {"01:00.1"};
	struct lv_domain removed;
	assert_int_equal(lv_xml_remove(xml, only, 1, &out, &removed), 0);
	assert_int_equal(removed.n, 1);
	assert_string_equal(removed.s[0].address, "0000:01:00.1");
	assert_int_equal(count(out, "<hostdev"), 2);
	assert_non_null(strstr(out, "index=\"7\""));   /* 01:00.0 still uses the port */
	assert_int_equal(count(out, "<devpass:device "), 1);
	assert_non_null(strstr(out, "<devpass:controller"));
	lv_domain_free(&removed);
	/* a device the domain's own hostdev passes (no devpass alias) is never taken out */
	char *other[] = {"0000:0a:00.0"};
	char *out2 = NULL;
	assert_int_equal(lv_xml_remove(out, other, 1, &out2, &removed), 0);
	assert_int_equal(removed.n, 0);
	assert_int_equal(count(out2, "<hostdev"), 2);
	lv_domain_free(&removed);
	free(out2);
	free(out);
	free(xml);
}

static void test_parse_kinds(void **s)
{
	(void)s;
	const char *xml =
		"<domain><name>k</name><devices>"
		"<hostdev mode='subsystem' type='usb'><source><vendor id='0x046d'/>"
		"<product id='0xc52b'/></source><alias name='ua-devpass-usb-046d-c52b'/></hostdev>"
		"<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source>"
		"<address uuid='4b20d080-1b54-4048-85b3-a6a62d165c01'/></source></hostdev>"
		"<interface type='hostdev'><source><address type='pci' domain='0' bus='4' slot='0'"
		" function='3'/></source></interface>"
		"<interface type='network'><source network='default'/></interface>"
		"<hostdev mode='subsystem' type='scsi'><source/></hostdev>"
		"<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x1ff'"
		" slot='0' function='0'/></source></hostdev>"
		"</devices></domain>";
	struct lv_domain d;
	assert_int_equal(lv_domain_parse(xml, &d), 0);
	assert_int_equal(d.n, 4);   /* scsi and the network interface are no passthrough */
	assert_int_equal(d.s[0].kind, DP_HOSTDEV_USB);
	assert_int_equal(d.s[0].vendor, 0x046d);
	assert_int_equal(d.s[0].product, 0xc52b);
	assert_true(lv_source_matches(&d.s[0], "046d:c52b"));
	assert_int_equal(d.s[1].kind, DP_HOSTDEV_MDEV);
	assert_true(lv_source_matches(&d.s[1], "4B20D080-1B54-4048-85B3-A6A62D165C01"));
	assert_int_equal(d.s[2].kind, DP_HOSTDEV_NET);
	assert_string_equal(d.s[2].address, "0000:04:00.3");
	assert_true(lv_source_matches(&d.s[2], "04:00.3"));
	assert_false(lv_source_matches(&d.s[2], "04:00.2"));
	assert_string_equal(d.s[3].address, "");   /* bus 0x1ff: no PCI address */
	lv_domain_free(&d);
	assert_int_equal(lv_domain_parse("<domain><devices/></domain>", &d), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "no <name>"));
}

/* USB and mdev elements go in and come out by their own names (vid:pid, UUID). */
static void test_usb_mdev_round_trip(void **s)
{
	(void)s;
	struct dp_hostdev h[2] = {
		{.kind = DP_HOSTDEV_USB, .usb_vendor = 0x046d, .usb_product = 0xc52b, .vlan = -1,
		 .group = -1, .alias = "ua-devpass-usb-046d-c52b", .pool = "mice"},
		{.kind = DP_HOSTDEV_MDEV, .uuid = "4b20d080-1b54-4048-85b3-a6a62d165c01", .vlan = -1,
		 .group = -1, .alias = "ua-devpass-mdev-4b20d080-1b54-4048-85b3-a6a62d165c01",
		 .pool = "vgpu", .guest = {.set = true, .bus = 9}},
	};
	struct dp_hostdev_set set = {.h = h, .n = 2};
	char *xml = NULL, *out = NULL;
	if (lv_xml_insert(DOMAIN_XML, &set, "d1", &xml) < 0)
		fail_msg("insert: %s", dp_error_message());
	struct lv_domain d, removed;
	assert_int_equal(lv_domain_parse(xml, &d), 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.s[1].kind, DP_HOSTDEV_USB);
	assert_string_equal(d.s[1].alias, "ua-devpass-usb-046d-c52b");
	assert_int_equal(d.s[2].kind, DP_HOSTDEV_MDEV);
	assert_string_equal(d.s[2].uuid, "4b20d080-1b54-4048-85b3-a6a62d165c01");
	assert_non_null(strstr(xml, "index=\"9\""));   /* the mdev's root port */
	lv_domain_free(&d);
	char *usb[] = {"046d:c52b"};
	assert_int_equal(lv_xml_remove(xml, usb, 1, &out, &removed), 0);
	assert_int_equal(removed.n, 1);
	assert_string_equal(removed.s[0].pool, "mice");
	assert_non_null(strstr(out, "type=\"mdev\""));
	assert_null(strstr(out, "type=\"usb\""));
	lv_domain_free(&removed);
	free(out);
	char *mdev[] = {"4B20D080-1B54-4048-85B3-A6A62D165C01"};
	assert_int_equal(lv_xml_remove(xml, mdev, 1, &out, &removed), 0);
	assert_int_equal(removed.n, 1);
	assert_null(strstr(out, "index=\"9\""));   /* its port went with it */
	lv_domain_free(&removed);
	free(out);
	free(xml);
}

/* ---- the hook over the fixture ------------------------------------------------------------ */
static int fx_setup(void **state)
{
	if (fk_fx_setup(state, "vfio-gpu", 0) < 0)
		return -1;
	struct fk_fx *f = *state;
	if (dp_pool_create("gpu", DP_POOL_PCI, "", DP_RELEASE_KEEP_VFIO) < 0 ||
	    dp_pool_rule_add("gpu", "id=10de:2204", &f->list) < 0 ||
	    dp_pool_create("vfs", DP_POOL_SRIOV_VF, "", DP_RELEASE_RESTORE) < 0 ||
	    dp_pool_rule_add("vfs", "address=0000:04:00.2", &f->list) < 0) {
		fk_fx_teardown(state);
		return -1;
	}
	return 0;
}

static char *domain_with(const char *name, const char *bus, const char *fn)
{
	char *xml = NULL;
	if (asprintf(&xml, "<domain type='qemu'><name>%s</name><devices>"
	             "<hostdev mode='subsystem' type='pci' managed='no'><source><address "
	             "domain='0x0000' bus='0x%s' slot='0x00' function='0x%s'/></source>"
	             "<alias name='ua-devpass-pci-x'/></hostdev></devices></domain>", name, bus, fn) < 0)
		fail_msg("out of memory");
	return xml;
}

static int hook(struct fk_fx *f, const char *name, const char *op, const char *subop,
                const char *xml, struct dp_strv *problems)
{
	struct dp_strv notes = {0};
	dp_strv_free(problems);
	int r = dp_libvirt_hook(&f->list, name, op, subop, xml, 5000, problems, &notes);
	dp_strv_free(&notes);
	return r;
}

static size_t claims_of(struct fk_fx *f, const char *owner)
{
	struct dp_claim_list c;
	assert_int_equal(dp_claims_read(&f->list, owner, &c), 0);
	size_t n = c.n;
	dp_claim_list_free(&c);
	return n;
}

static void test_hook_prepare_release(void **state)
{
	struct fk_fx *f = *state;
	struct dp_strv problems = {0};
	char *gpu1 = domain_with("d1", "01", "0"), *gpu2 = domain_with("d2", "01", "0");
	/* the GPU is a free member on vfio-pci: d1's prepare claims it */
	assert_int_equal(hook(f, "d1", "prepare", "begin", gpu1, &problems), 0);
	assert_int_equal(claims_of(f, "d1"), 1);
	/* d2 naming the same device is refused, one line */
	assert_int_equal(hook(f, "d2", "prepare", "begin", gpu2, &problems), -EPERM);
	assert_int_equal(problems.n, 1);
	assert_non_null(strstr(problems.v[0], "claimed by 'd1'"));
	assert_int_equal(claims_of(f, "d2"), 0);
	/* release twice: the second finds nothing and is no error */
	assert_int_equal(hook(f, "d1", "release", "end", gpu1, &problems), 0);
	assert_int_equal(claims_of(f, "d1"), 0);
	assert_int_equal(hook(f, "d1", "release", "end", gpu1, &problems), 0);
	/* other operations do nothing */
	assert_int_equal(hook(f, "d2", "started", "begin", gpu2, &problems), 0);
	assert_int_equal(hook(f, "d2", "stopped", "end", "not xml", &problems), 0);
	assert_int_equal(claims_of(f, "d2"), 0);
	dp_strv_free(&problems);
	free(gpu1);
	free(gpu2);
}

static void test_hook_binds_free_member(void **state)
{
	struct fk_fx *f = *state;
	struct dp_strv problems = {0};
	char driver[64];
	fk_driver(f->root, "0000:04:00.2", driver, sizeof(driver));
	assert_string_equal(driver, "mlx5_core");
	char *vf = domain_with("d3", "04", "2");
	/* the VF is a pool member on its host driver: claimed and bound by the prepare */
	if (hook(f, "d3", "prepare", "begin", vf, &problems) < 0)
		fail_msg("prepare: %s / %s", dp_error_message(), problems.n ? problems.v[0] : "");
	fk_driver(f->root, "0000:04:00.2", driver, sizeof(driver));
	assert_string_equal(driver, "vfio-pci");
	fk_fx_rescan(f);
	/* release: the pool's policy (restore) gives it back to its driver */
	assert_int_equal(hook(f, "d3", "release", "end", vf, &problems), 0);
	fk_driver(f->root, "0000:04:00.2", driver, sizeof(driver));
	assert_string_equal(driver, "mlx5_core");
	fk_fx_rescan(f);
	dp_strv_free(&problems);
	free(vf);
}

static void test_hook_refusals(void **state)
{
	struct fk_fx *f = *state;
	struct dp_strv problems = {0};
	/* the NVMe: no pool, host-critical, on nvme */
	char *nvme = domain_with("d4", "02", "0");
	assert_int_equal(hook(f, "d4", "prepare", "begin", nvme, &problems), -EPERM);
	/* in no pool: no claim needed (a devpass vm export names devices so), the rest holds */
	assert_int_equal(problems.n, 2);   /* host-critical, driver */
	assert_non_null(strstr(problems.v[0], "host-critical"));
	assert_non_null(strstr(problems.v[1], "on driver nvme"));
	/* a device not present */
	char *gone = domain_with("d4", "7f", "0");
	assert_int_equal(hook(f, "d4", "prepare", "begin", gone, &problems), -EPERM);
	assert_non_null(strstr(problems.v[problems.n - 1], "not present"));
	assert_int_equal(hook(f, "d4", "prepare", "begin", "<domain", &problems), -EINVAL);
	dp_strv_free(&problems);
	free(nvme);
	free(gone);
}

static void test_hook_install(void **state)
{
	struct fk_fx *f = *state;
	char path[256], host[512];
	struct stat st;
	assert_int_equal(dp_libvirt_hook_install(false, path, sizeof(path)), 0);
	assert_string_equal(path, "/etc/libvirt/hooks/qemu.d/devpass");
	snprintf(host, sizeof(host), "%s%s", f->root, path);
	assert_int_equal(stat(host, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	FILE *in = fopen(host, "r");
	char text[2048] = "";
	assert_non_null(in);
	size_t n = fread(text, 1, sizeof(text) - 1, in);
	fclose(in);
	text[n] = '\0';
	assert_non_null(strstr(text, "--root '"));
	assert_non_null(strstr(text, f->root));
	assert_non_null(strstr(text, "libvirt hook \"$@\""));
	assert_int_equal(dp_libvirt_hook_install(true, path, sizeof(path)), 0);
	assert_int_not_equal(stat(host, &st), 0);
	assert_int_equal(dp_libvirt_hook_install(true, path, sizeof(path)), -ENOENT);
}

static void test_uri(void **s)
{
	(void)s;
	char uri[128];
	unsetenv("LIBVIRT_DEFAULT_URI");
	assert_string_equal(dp_libvirt_uri(NULL, uri, sizeof(uri)), "qemu:///system");
	setenv("LIBVIRT_DEFAULT_URI", "qemu:///session", 1);
	assert_string_equal(dp_libvirt_uri(NULL, uri, sizeof(uri)), "qemu:///session");
	assert_string_equal(dp_libvirt_uri("test:///default", uri, sizeof(uri)), "test:///default");
	unsetenv("LIBVIRT_DEFAULT_URI");
}

int main(void)
{
	const struct CMUnitTest xml_tests[] = {
		cmocka_unit_test(test_first_free_bus),
		cmocka_unit_test(test_insert),
		cmocka_unit_test(test_remove_all),
		cmocka_unit_test(test_remove_one),
		cmocka_unit_test(test_parse_kinds),
		cmocka_unit_test(test_usb_mdev_round_trip),
		cmocka_unit_test(test_uri),
	};
	const struct CMUnitTest hook_tests[] = {
		cmocka_unit_test(test_hook_prepare_release),
		cmocka_unit_test(test_hook_binds_free_member),
		cmocka_unit_test(test_hook_refusals),
		cmocka_unit_test(test_hook_install),
	};
	int r = cmocka_run_group_tests_name("libvirt-xml", xml_tests, NULL, NULL);
	return r | cmocka_run_group_tests_name("libvirt-hook", hook_tests, fx_setup, fk_fx_teardown);
}
