/* The platform exports (pools/export.c) over the fake kernel, with claims and releases that
 * really bind: what a claim, a quarantine and a kept group do to what Nova, KubeVirt and
 * Proxmox are given; and the refusals that leave nothing written. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "devpass.h"
#include "fixture-env.h"

#define GPU "0000:01:00.0"
#define AUDIO "0000:01:00.1"

static int fx_setup(void **state)
{
	return fk_fx_setup(state, "standard", DP_SCAN_NAMES);
}

/* One export: its text and warnings (joined by newlines) into the caller's buffers. */
struct run {
	int r;
	char *text;
	struct json_object *json;
	struct dp_strv warnings;
	char *warned;
};

static void run_free(struct run *x)
{
	free(x->text);
	free(x->warned);
	json_object_put(x->json);
	dp_strv_free(&x->warnings);
}

static struct run export(struct fk_fx *f, enum dp_export_target target, const char *pool)
{
	struct dp_export_options o = {.pool = pool, .node = "pve1"};
	struct run x = {0};
	x.r = dp_export(target, &f->list, &o, &x.text, &x.json, &x.warnings);
	x.warned = dp_strv_join(&x.warnings, "\n");
	assert_non_null(x.warned);
	return x;
}

static void assert_has(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("'%s' lacks '%s'", hay ? hay : "(null)", needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
	if (hay && strstr(hay, needle))
		fail_msg("'%s' holds '%s'", hay, needle);
}

/* A claimed VF is left out of every platform; released into quarantine it stays out. */
static void test_claimed_then_quarantined(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c, rel;
	char vf[DP_ADDR_LEN], quoted[DP_ADDR_LEN + 4];
	assert_int_equal(dp_pool_create("vfs", DP_POOL_SRIOV_VF, "", DP_RELEASE_QUARANTINE), 0);
	assert_int_equal(dp_pool_rule_add("vfs", "physfn=04:00.0", &f->list), 4);
	struct dp_claim_request req = fk_fx_request("vfs", "vm1");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	snprintf(vf, sizeof(vf), "%s", c.c[0].address);
	snprintf(quoted, sizeof(quoted), "\"%s\"", vf);
	dp_claim_list_free(&c);
	fk_fx_rescan(f);
	for (int t = DP_EXPORT_NOVA; t <= DP_EXPORT_PROXMOX; t++) {
		struct run x = export(f, (enum dp_export_target)t, NULL);
		assert_int_equal(x.r, 0);
		assert_has(x.warned, "is left out: claimed by 'vm1'");
		assert_has(x.warned, vf);
		if (t != DP_EXPORT_KUBEVIRT)   /* KubeVirt names ids, not addresses */
			assert_lacks(json_object_to_json_string(x.json), quoted);
		run_free(&x);
	}
	assert_int_equal(dp_pool_release(&f->list, "vm1", NULL, 0, 5000, &rel), 0);
	assert_string_equal(rel.c[0].action, "quarantined");
	dp_claim_list_free(&rel);
	fk_fx_rescan(f);
	struct run x = export(f, DP_EXPORT_NOVA, NULL);
	assert_int_equal(x.r, 0);
	assert_has(x.warned, "is left out: quarantined");
	assert_lacks(x.text, vf);
	assert_has(x.text, "# pool 'vfs' (sriov-vf): 3 devices");
	run_free(&x);
}

/* The GPU's audio function on snd_hda_intel keeps the GPU out of Nova's export; once a
 * keep-vfio release leaves the whole group on vfio-pci, the GPU goes in. */
static void test_group_sibling(void **state)
{
	struct fk_fx *f = *state;
	struct dp_claim_list c, rel;
	assert_int_equal(dp_pool_create("gpu", DP_POOL_PCI, "", DP_RELEASE_KEEP_VFIO), 0);
	assert_int_equal(dp_pool_rule_add("gpu", "class=gpu vendor=10de", &f->list), 1);
	struct run x = export(f, DP_EXPORT_NOVA, NULL);
	assert_int_equal(x.r, 0);
	assert_lacks(x.text, GPU);
	assert_has(x.warned, GPU " of pool 'gpu' is left out: its IOMMU group 1 also holds " AUDIO
	           " (on snd_hda_intel)");
	assert_has(x.text, "0 device_spec, 0 alias entries.");
	run_free(&x);
	struct dp_claim_request req = fk_fx_request("gpu", "vm1");
	assert_int_equal(dp_pool_claim(&f->list, &req, &c), 0);
	dp_claim_list_free(&c);
	assert_int_equal(dp_pool_release(&f->list, "vm1", NULL, 0, 5000, &rel), 0);
	dp_claim_list_free(&rel);
	fk_fx_rescan(f);
	x = export(f, DP_EXPORT_NOVA, NULL);
	assert_int_equal(x.r, 0);
	assert_has(x.text, "# pool 'gpu' (pci): 1 device, IOMMU group 1\ndevice_spec = "
	           "{\"vendor_id\":\"10de\",\"product_id\":\"2204\",\"address\":\"" GPU "\"}");
	assert_has(x.text, "1 device_spec, 1 alias entry.");
	assert_lacks(x.warned, "left out");
	run_free(&x);
}

/* Two VF pools of one model: refused whole, naming both; --pool exports either one. */
static void test_same_id_pools(void **state)
{
	struct fk_fx *f = *state;
	assert_int_equal(dp_pool_create("a", DP_POOL_SRIOV_VF, "", DP_RELEASE_RESTORE), 0);
	assert_int_equal(dp_pool_rule_add("a", "address=04:00.2,04:00.3", &f->list), 2);
	assert_int_equal(dp_pool_create("b", DP_POOL_SRIOV_VF, "", DP_RELEASE_RESTORE), 0);
	assert_int_equal(dp_pool_rule_add("b", "address=04:00.4,04:00.5", &f->list), 2);
	struct run x = export(f, DP_EXPORT_NOVA, NULL);
	assert_int_equal(x.r, -EEXIST);
	assert_null(x.text);
	assert_null(x.json);
	assert_has(dp_error_message(), "pools 'a' and 'b' both hold 15b3:1018 type-VF devices");
	const char *subject;
	assert_int_equal(dp_error_remedy(&subject), DP_REMEDY_PARAMETER);
	assert_string_equal(subject, "pool");
	run_free(&x);
	x = export(f, DP_EXPORT_NOVA, "b");
	assert_int_equal(x.r, 0);
	assert_has(x.text, "alias = {\"name\":\"b\"");
	assert_lacks(x.text, "04:00.2");
	run_free(&x);
}

/* A PF's device_spec is Nova's regex form: no single address, so not widened to its VFs. */
static void test_pf_address(void **state)
{
	struct fk_fx *f = *state;
	assert_int_equal(dp_pool_create("pf", DP_POOL_PCI, "", DP_RELEASE_RESTORE), 0);
	assert_int_equal(dp_pool_rule_add("pf", "id=15b3:1017", &f->list), 1);
	struct run x = export(f, DP_EXPORT_NOVA, NULL);
	assert_int_equal(x.r, 0);
	struct json_object *specs, *address, *function;
	assert_true(json_object_object_get_ex(x.json, "device_spec", &specs));
	assert_int_equal(json_object_array_length(specs), 1);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(specs, 0), "address", &address));
	assert_true(json_object_is_type(address, json_type_object));
	assert_true(json_object_object_get_ex(address, "function", &function));
	assert_string_equal(json_object_get_string(function), "[0]");
	assert_has(x.text, "\"device_type\":\"type-PF\"");
	run_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claimed_then_quarantined, fx_setup, fk_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_sibling, fx_setup, fk_fx_teardown),
		cmocka_unit_test_setup_teardown(test_same_id_pools, fx_setup, fk_fx_teardown),
		cmocka_unit_test_setup_teardown(test_pf_address, fx_setup, fk_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
