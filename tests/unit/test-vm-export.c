/* vm export (src/lib/export/domain.c, cloudhv.c, vmdevs.c) through the in-process fake
 * kernel on the `vmhost` tree: the name-based domain uuid; a stopped VM's pool member is
 * only previewed (nothing claimed, a warning); a running VM's export names the member its
 * claim holds, in the domain and in the Cloud Hypervisor bodies; refusals leave nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "devpass.h"
#include "export/domain.h"
#include "fixture-env.h"
#include "vm/vm.h"

#define VM "v1"
#define GPU "0000:01:00.0"         /* RTX 3090 on nouveau, group 1 */
#define GPU_AUDIO "0000:01:00.1"   /* its audio */
#define VF "0000:04:00.2"          /* the first free VF of pool vfs */

static int fx_setup(void **state)
{
	if (fk_fx_vmhost_setup(state) < 0)
		return -1;
	struct fk_fx *f = *state;
	struct dp_vm_device devs[2] = {
		{ .want = DP_VM_WANT_ADDRESS, .spec = GPU },
		{ .want = DP_VM_WANT_POOL, .spec = "vfs", .count = 1 },
	};
	struct dp_vm_def def = { .name = VM, .memory_mib = 256, .cpus = 1, .firmware = DP_VM_FW_BIOS,
	                         .numa = DP_VM_NUMA_NONE, .devices = devs, .ndevices = 2,
	                         .kernel = (char *)"/vmlinuz" };
	struct dp_vm_report rep = {0};
	int r = dp_vm_create(&def, &f->list, NULL, &rep);
	dp_vm_report_free(&rep);
	if (r < 0) {
		fk_fx_teardown(state);
		return -1;
	}
	return 0;
}

static size_t claims_of(struct fk_fx *f)
{
	struct dp_claim_list c = {0};
	assert_int_equal(dp_claims_read(&f->list, NULL, &c), 0);
	size_t n = c.n;
	dp_claim_list_free(&c);
	return n;
}

static bool strv_has_part(const struct dp_strv *sv, const char *part)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strstr(sv->v[i], part))
			return true;
	return false;
}

/* Python's uuid.uuid3(UUID('5b1e0c7a-932d-4f61-a83c-0d517e26b944'), name) gives the same. */
static void test_uuid(void **state)
{
	(void)state;
	char a[37], b[37];
	assert_int_equal(dp_domain_uuid("g1", a), 0);
	assert_string_equal(a, "d806f287-5b0f-3fc0-8a48-3518f97a3ca2");
	assert_int_equal(dp_domain_uuid("g2", b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(b[14], '3');                       /* version 3 */
	assert_non_null(strchr("89ab", b[19]));             /* RFC 4122 variant */
}

static const struct dp_hostdev *find(const struct dp_hostdev_set *s, const char *address)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->h[i].address, address) == 0)
			return &s->h[i];
	return NULL;
}

static void test_stopped_preview(void **state)
{
	struct fk_fx *f = *state;
	struct dp_hostdev_set s = {0};
	assert_int_equal(dp_hostdev_set_from_vm(&f->list, VM, &s), 0);
	assert_non_null(find(&s, GPU));
	assert_non_null(find(&s, GPU_AUDIO));       /* the whole group */
	const struct dp_hostdev *vf = find(&s, VF);
	assert_non_null(vf);
	assert_string_equal(vf->pool, "vfs");
	assert_true(strv_has_part(&s.warnings, "held for VM " VM " only once claimed"));
	dp_hostdev_set_free(&s);
	assert_int_equal(claims_of(f), 0);          /* an export claims nothing */
}

/* Running: the member the claim took, with its pool, in the domain and in CH's bodies. */
static void test_running(void **state)
{
	struct fk_fx *f = *state;
	struct dp_vm_options o = { .timeout_ms = 5000 };
	struct dp_vm_report rep = {0};
	if (dp_vm_start(VM, &f->list, &o, &rep) < 0)
		fail_msg("start: %s", dp_error_message());
	dp_vm_report_free(&rep);
	fk_fx_rescan(f);
	assert_int_equal(claims_of(f), 1);

	char *xml = NULL;
	struct dp_strv warnings = {0};
	assert_int_equal(dp_vm_export_libvirt(VM, &f->list, &xml, &warnings), 0);
	assert_non_null(strstr(xml, "<!-- pool vfs, IOMMU group 13 -->"));
	assert_non_null(strstr(xml, "bus=\"0x04\" slot=\"0x00\" function=\"0x2\""));
	assert_false(strv_has_part(&warnings, "only once claimed"));   /* it is claimed */
	free(xml);
	dp_strv_free(&warnings);

	char *cmdline = NULL;
	struct json_object *bodies = NULL;
	assert_int_equal(dp_vm_export_cloudhv(VM, &f->list, &cmdline, &bodies, NULL), 0);
	assert_int_equal(json_object_array_length(bodies), 3);
	assert_non_null(strstr(cmdline, "--device path=/sys/bus/pci/devices/" VF "/,id=devpass-"));
	free(cmdline);
	json_object_put(bodies);

	assert_int_equal(dp_vm_stop(VM, &f->list, &o, NULL), 0);
	fk_fx_rescan(f);
	assert_int_equal(claims_of(f), 0);
}

/* Huge pages need a hugetlbfs mount that a generated tree has not, so create refuses them:
 * the definition is stored directly, as create would after its checks. */
static void test_hugepages(void **state)
{
	(void)state;
	struct dp_vm_def def = { .name = "huge", .memory_mib = 2048, .cpus = 2, .firmware = DP_VM_FW_BIOS,
	                         .numa = DP_VM_NUMA_NONE, .hugepages = true, .kernel = (char *)"/vmlinuz" };
	struct vm_db *db = NULL;
	assert_int_equal(dp_vm_db_open(&db, true), 0);
	assert_int_equal(dp_vm_db_insert(db, &def), 0);
	dp_vm_db_close(db);
	struct fk_fx *f = *state;
	char *xml = NULL;
	assert_int_equal(dp_vm_export_libvirt("huge", &f->list, &xml, NULL), 0);
	assert_non_null(strstr(xml, "<memoryBacking>\n    <hugepages/>\n    <access mode=\"shared\"/>\n"
	                            "    <allocation mode=\"immediate\"/>\n  </memoryBacking>"));
	free(xml);
	char *cmdline = NULL;
	struct json_object *bodies = NULL;
	assert_int_equal(dp_vm_export_cloudhv("huge", &f->list, &cmdline, &bodies, NULL), 0);
	assert_non_null(strstr(cmdline, "\n--memory size=2048M,hugepages=on\n"));
	assert_int_equal(json_object_array_length(bodies), 0);
	free(cmdline);
	json_object_put(bodies);
}

static void test_unknown(void **state)
{
	struct fk_fx *f = *state;
	char *xml = (char *)"untouched";
	assert_int_equal(dp_vm_export_libvirt("nosuch", &f->list, &xml, NULL), -ENOENT);
	assert_null(xml);
	assert_non_null(strstr(dp_error_message(), "no VM named 'nosuch'"));
	char *cmdline = NULL;
	struct json_object *bodies = NULL;
	assert_int_equal(dp_vm_export_cloudhv("../x", &f->list, &cmdline, &bodies, NULL), -EINVAL);
	assert_null(cmdline);
	assert_null(bodies);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid),
		cmocka_unit_test_setup_teardown(test_stopped_preview, fx_setup, fk_fx_teardown),
		cmocka_unit_test_setup_teardown(test_running, fx_setup, fk_fx_teardown),
		cmocka_unit_test_setup_teardown(test_unknown, fx_setup, fk_fx_teardown),
		cmocka_unit_test_setup_teardown(test_hugepages, fx_setup, fk_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
