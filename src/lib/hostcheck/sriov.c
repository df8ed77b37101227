/* Stored SR-IOV VF settings against this boot: a PF that is gone, a VF whose kernel values
 * are not the stored ones (the VFs were re-created without them being applied again). */
#include <stdio.h>
#include <string.h>

#include "hostcheck/checks.h"
#include "sriov/sriov.h"

/* 1 when every stored setting of pf is in effect, 0 when a warning was added */
static int pf_check(struct dp_check_report *r, const char *key, size_t *vfs)
{
	struct dp_sriov_pf pf;
	char fix[160], diff[160];
	if (dp_sriov_show(key, &pf) < 0) {
		snprintf(fix, sizeof(fix), "if it is gone for good: devpass sriov forget %s N (each VF)", key);
		dp_check_add(r, "sriov-settings", DP_CHECK_WARN, fix, "VF settings are stored for %s: %s",
		             key, dp_error_message());
		return 0;
	}
	int ok = 1;
	for (size_t i = 0; ok && i < pf.n; i++) {
		if (!pf.vf[i].stored)
			continue;
		(*vfs)++;
		if (!dp_vf_settings_in_effect(&pf.vf[i], &pf.vf[i].want, diff, sizeof(diff))) {
			snprintf(fix, sizeof(fix), "devpass sriov apply %s", key);
			dp_check_add(r, "sriov-settings", DP_CHECK_WARN, fix, "VF %zu of %s: %s", i, key, diff);
			ok = 0;
		}
	}
	dp_sriov_pf_free(&pf);
	return ok;
}

void dp_check_sriov(struct dp_check_report *r)
{
	struct dp_strv pfs = {0};
	size_t ok = 0, vfs = 0;
	if (dp_vf_store_pfs(&pfs) < 0) {
		dp_check_add(r, "sriov-settings", DP_CHECK_WARN, NULL, "%s", dp_error_message());
		return;
	}
	for (size_t i = 0; i < pfs.n; i++)
		ok += (size_t)pf_check(r, pfs.v[i], &vfs);
	if (pfs.n && ok == pfs.n)
		dp_check_add(r, "sriov-settings", DP_CHECK_PASS, NULL, "the stored settings of %zu VF%s "
		             "are in effect (or not reported by their drivers)", vfs, vfs == 1 ? "" : "s");
	dp_strv_free(&pfs);
}
