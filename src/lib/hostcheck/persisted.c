/* Checks of what is set up for coming boots: kernel arguments configured but not active
 * (a reboot is due), persisted bindings that did not take effect this boot, and vfio-pci
 * ids that would take a device the host needs. Each appears only when there is something
 * of its kind to check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostcheck/checks.h"
#include "persist/persist.h"

void dp_check_boot_config(struct dp_check_report *r)
{
	struct dp_strv pending = {0}, where = {0};
	dp_setup_pending_args(&pending, &where);
	if (pending.n) {
		char *args = dp_strv_join(&pending, " ");
		dp_check_add(r, "boot-cmdline", DP_CHECK_WARN, "reboot to start the kernel with them",
		             "configured in %s but not on the running kernel's command line: %s (reboot "
		             "needed)", where.n ? where.v[0] : "the boot configuration", args);
		free(args);
	}
	dp_strv_free(&pending);
	dp_strv_free(&where);
}

void dp_check_persisted(struct dp_check_report *r, const struct dp_pci_list *list)
{
	struct dp_persist_rules rules;
	if (dp_persist_rules_read(&rules) < 0) {
		dp_check_add(r, "persisted-bindings", DP_CHECK_WARN, "fix or remove the file named",
		             "%s", dp_error_message());
		return;
	}
	for (size_t i = 0; i < rules.invalid.n; i++)
		dp_check_add(r, "persisted-bindings", DP_CHECK_WARN, "fix the file or remove it",
		             "skipped at boot: %s", rules.invalid.v[i]);
	size_t ok = 0;
	for (size_t i = 0; i < rules.n; i++) {
		const struct dp_persist_rule *rule = &rules.r[i];
		struct dp_strv devices = {0};
		char key[128], fix[256];
		enum dp_persist_state st = dp_persist_rule_state(rule, list, &devices);
		dp_persist_rule_describe(rule, key, sizeof(key));
		char *addrs = dp_strv_join(&devices, ", ");
		const char *want = *rule->driver ? rule->driver : "its VF count";
		if (st == DP_PERSIST_ABSENT) {
			snprintf(fix, sizeof(fix), "if the device is gone for good: devpass persist --remove %s",
			         rule->address);
			dp_check_add(r, "persisted-bindings", DP_CHECK_WARN, fix, "rule %s (%s -> %s): no such "
			             "device this boot", rule->name, key, want);
		} else if (st == DP_PERSIST_INACTIVE) {
			snprintf(fix, sizeof(fix), "rules apply at boot: if this boot ran it, see 'journalctl -u "
			         "devpass-persist@%s'; to apply it now: devpass persist --apply %s",
			         devices.v[0], devices.v[0]);
			dp_check_add(r, "persisted-bindings", DP_CHECK_WARN, fix, "rule %s (%s -> %s) is not in "
			             "effect on %s", rule->name, key, want, addrs);
		} else
			ok++;
		free(addrs);
		dp_strv_free(&devices);
	}
	if (ok && ok == rules.n)
		dp_check_add(r, "persisted-bindings", DP_CHECK_PASS, NULL, "%zu persisted rule%s took "
		             "effect this boot", ok, ok == 1 ? "" : "s");
	dp_persist_rules_free(&rules);
}

void dp_check_vfio_ids(struct dp_check_report *r, const struct dp_pci_list *list)
{
	struct dp_strv ids = {0}, where = {0};
	dp_vfio_ids_configured(&ids, &where);
	bool bad = false;
	for (size_t k = 0; k < ids.n; k++) {
		unsigned v, d;
		if (sscanf(ids.v[k], "%4x:%4x", &v, &d) != 2)
			continue;
		for (size_t i = 0; i < list->n; i++) {
			const struct dp_pci_device *dev = &list->dev[i];
			if (dev->vendor != v || dev->device != d || !dev->critical.n)
				continue;
			char fix[512];
			snprintf(fix, sizeof(fix), "remove %s from the vfio-pci ids in %s and bind the "
			         "intended device by address instead (devpass persist ADDRESS)", ids.v[k], where.v[k]);
			dp_check_add(r, "vfio-ids", DP_CHECK_FAIL, fix, "vfio-pci ids=%s (%s) also matches %s, "
			             "which the host needs (%s): vfio-pci takes it at boot", ids.v[k], where.v[k],
			             dev->address, dev->critical.v[0]);
			bad = true;
		}
	}
	if (ids.n && !bad) {
		char *all = dp_strv_join(&ids, ",");
		dp_check_add(r, "vfio-ids", DP_CHECK_PASS, NULL, "vfio-pci ids=%s match no device the "
		             "host needs", all);
		free(all);
	}
	dp_strv_free(&ids);
	dp_strv_free(&where);
}
