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
	_cleanup_(dp_strv_freep) struct dp_strv pending = {0}, where = {0};
	dp_setup_pending_args(&pending, &where);
	if (!pending.n)
		return;
	_cleanup_free_ char *args = dp_strv_join(&pending, " ");
	if (!args) {
		dp_check_out_of_memory();
		return;
	}
	dp_check_add(r, "boot-cmdline", DP_CHECK_WARN, "reboot to start the kernel with them",
	             "configured in %s but not on the running kernel's command line: %s (reboot "
	             "needed)", where.n ? where.v[0] : "the boot configuration", args);
}

/* Binding now is what 'devpass bind' is for (the README's way); a VF count has no verb
 * of its own, so it is the boot path's own command. */
static void inactive_fix(const struct dp_persist_rule *rule, const char *address, char *fix,
                         size_t size)
{
	int n = snprintf(fix, size, "rules apply at boot: if this boot ran it, see 'journalctl -u "
	                 "devpass-persist@%s'; ", address);
	if (n < 0 || (size_t)n >= size)
		return;
	if (!*rule->driver)
		snprintf(fix + n, size - n, "to create its VFs now: devpass persist --apply %s", address);
	else if (strcmp(rule->driver, "vfio-pci") == 0)
		snprintf(fix + n, size - n, "to bind it now: devpass bind %s", address);
	else
		snprintf(fix + n, size - n, "to bind it now: devpass bind --driver %s %s", rule->driver,
		         address);
}

void dp_check_persisted(struct dp_check_report *r, const struct dp_pci_list *list)
{
	_cleanup_(dp_persist_rules_freep) struct dp_persist_rules rules = {0};
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
		_cleanup_(dp_strv_freep) struct dp_strv devices = {0};
		char key[128], fix[256];
		enum dp_persist_state st = dp_persist_rule_state(rule, list, &devices);
		dp_persist_rule_describe(rule, key, sizeof(key));
		_cleanup_free_ char *addrs = dp_strv_join(&devices, ", ");
		if (!addrs) {
			dp_check_out_of_memory();
			return;
		}
		const char *want = *rule->driver ? rule->driver : "its VF count";
		if (st == DP_PERSIST_ABSENT) {
			snprintf(fix, sizeof(fix), "if the device is gone for good: devpass persist --remove %s",
			         rule->address);
			dp_check_add(r, "persisted-bindings", DP_CHECK_WARN, fix, "rule %s (%s -> %s): no such "
			             "device this boot", rule->name, key, want);
		} else if (st == DP_PERSIST_INACTIVE) {
			inactive_fix(rule, devices.v[0], fix, sizeof(fix));
			dp_check_add(r, "persisted-bindings", DP_CHECK_WARN, fix, "rule %s (%s -> %s) is not in "
			             "effect on %s", rule->name, key, want, addrs);
		} else
			ok++;
	}
	if (ok && ok == rules.n)
		dp_check_add(r, "persisted-bindings", DP_CHECK_PASS, NULL, "%zu persisted rule%s took "
		             "effect this boot", ok, ok == 1 ? "" : "s");
}

void dp_check_vfio_ids(struct dp_check_report *r, const struct dp_pci_list *list)
{
	_cleanup_(dp_strv_freep) struct dp_strv ids = {0}, where = {0};
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
	if (!ids.n || bad)
		return;
	_cleanup_free_ char *all = dp_strv_join(&ids, ",");
	if (!all) {
		dp_check_out_of_memory();
		return;
	}
	dp_check_add(r, "vfio-ids", DP_CHECK_PASS, NULL, "vfio-pci ids=%s match no device the "
	             "host needs", all);
}

/* ---- vfio-pci configuration made by other tools -------------------------------------- */

static bool file_is_ours(const char *path)
{
	const char *slash = strrchr(path, '/');
	return strcmp(slash ? slash + 1 : path, "devpass-vfio.conf") == 0;
}

/* An id of devpass's own ids= line that a foreign line read after it would drop
 * (modprobe gives vfio-pci every line's ids=, and the last one wins); NULL when none. */
static const char *ids_dropped(const struct dp_foreign_config *f, const struct dp_strv *ids,
                               const struct dp_strv *where)
{
	const char *slash = strrchr(f->source, '/');
	if (strcmp(slash ? slash + 1 : f->source, "devpass-vfio.conf") < 0)
		return NULL;
	for (size_t k = 0; k < ids->n; k++)
		if (file_is_ours(where->v[k]) && !strstr(f->key, ids->v[k]))
			return ids->v[k];
	return NULL;
}

static void check_foreign_ids(struct dp_check_report *r, const struct dp_foreign_config *f,
                              const struct dp_strv *ids, const struct dp_strv *where)
{
	const char *lost = ids_dropped(f, ids, where);
	char fix[512];
	if (lost) {
		snprintf(fix, sizeof(fix), "add %s to the ids= line of %s, or remove that line", lost,
		         f->source);
		dp_check_add(r, "foreign-vfio-ids", DP_CHECK_WARN, fix, "%s sets vfio-pci ids=%s and is "
		             "read after devpass-vfio.conf: the last ids= wins, so vfio-pci does not take "
		             "%s at boot", f->source, f->key, lost);
	} else
		dp_check_add(r, "foreign-vfio-ids", DP_CHECK_PASS, NULL, "%s (not devpass's) gives "
		             "vfio-pci ids=%s at boot", f->source, f->key);
}

static void check_driverctl(struct dp_check_report *r, const struct dp_foreign_config *f,
                            const struct dp_persist_rules *rules)
{
	for (size_t i = 0; i < rules->n; i++)
		if (rules->r[i].key == DP_KEY_ADDRESS && strcmp(rules->r[i].address, f->key) == 0 &&
		    *rules->r[i].driver) {
			char fix[256];
			snprintf(fix, sizeof(fix), "keep one of them: driverctl unset-override %s, or "
			         "devpass persist --remove %s", f->key, f->key);
			dp_check_add(r, "driverctl-overrides", DP_CHECK_WARN, fix, "%s is bound at boot by "
			             "driverctl (%s: %s) and by devpass's rule %s (%s)", f->key, f->source,
			             f->driver, rules->r[i].name, rules->r[i].driver);
			return;
		}
	dp_check_add(r, "driverctl-overrides", DP_CHECK_PASS, NULL, "driverctl binds %s to %s at "
	             "boot (%s)", f->key, f->driver, f->source);
}

void dp_check_foreign(struct dp_check_report *r)
{
	_cleanup_(dp_foreign_list_freep) struct dp_foreign_list foreign = {0};
	_cleanup_(dp_strv_freep) struct dp_strv ids = {0}, where = {0};
	_cleanup_(dp_persist_rules_freep) struct dp_persist_rules rules = {0};
	dp_foreign_config_read(&foreign);
	if (foreign.n) {
		dp_vfio_ids_configured(&ids, &where);
		dp_persist_rules_read(&rules);
	}
	for (size_t i = 0; i < foreign.n; i++)
		if (strcmp(foreign.f[i].kind, "ids") == 0)
			check_foreign_ids(r, &foreign.f[i], &ids, &where);
		else
			check_driverctl(r, &foreign.f[i], &rules);
}
