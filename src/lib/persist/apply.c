/* The boot path: `devpass persist --apply ADDRESS`, run by devpass-persist@.service when
 * udev sees the device. The udev rule has already set driver_override (so a host driver
 * loaded after it cannot take the device); this finishes the job: loads the driver,
 * takes the device from a host driver that got there first (built in, or loaded from the
 * initramfs), and creates persisted VFs once the PF has its driver. A device the host
 * needs is refused here too: ids and serial numbers can catch a device nobody meant. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/sysroot.h"
#include "persist/persist.h"
#include "sriov/sriov.h"

#define APPLY_TIMEOUT_MS 30000

struct found {
	const struct dp_persist_rule *bind, *vfs;
};

static int device_rules(const struct dp_persist_rules *rules, const struct dp_pci_device *dev,
                        struct found *f)
{
	struct dp_pci_details d;
	bool details = false;
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < rules->n; i++) {
		const struct dp_persist_rule *r = &rules->r[i];
		if (r->key == DP_KEY_SERIAL && !details) {
			int err = dp_pci_details_read(dev, &d);
			if (err < 0)
				return err;   /* a serial rule unread must not read as no rule */
			details = true;
		}
		if (!dp_persist_rule_matches(r, dev, details ? &d : NULL))
			continue;
		/* an address rule is more specific than an id: it wins */
		const struct dp_persist_rule **slot = r->sriov_numvfs >= 0 ? &f->vfs : &f->bind;
		if (!*slot || r->key == DP_KEY_ADDRESS)
			*slot = r;
	}
	if (details)
		dp_pci_details_free(&d);
	return 0;
}

static int load(const char *address, struct dp_pci_list *list, struct dp_persist_rules *rules,
                struct dp_pci_device **dev, struct found *f)
{
	int r = dp_persist_rules_read(rules);
	if (r < 0 || (r = dp_pci_scan_flags(list, 0)) < 0 ||
	    (r = dp_pci_device_lookup(list, address, dev)) < 0)
		return r;
	return device_rules(rules, *dev, f);
}

static int apply_binding(const struct dp_pci_list *list, const struct dp_pci_device *dev,
                         const struct dp_persist_rule *rule, char *msg, size_t size)
{
	if (strcmp(dev->driver, rule->driver) == 0) {
		snprintf(msg, size, "%s is on %s already", dev->address, rule->driver);
		return 0;
	}
	if (dev->critical.n)
		return dp_error_set(-EPERM, "%s matches the persisted rule %s but the host needs it (%s): "
		                    "left on %s", dev->address, rule->name, dev->critical.v[0],
		                    *dev->driver ? dev->driver : "no driver");
	/* a VF takes its administrative MAC, VLAN... from its PF only while it is on the
	 * host: the stored ones go in first, or its driver in the guest invents a MAC */
	char vf_note[160] = "";
	int r = dp_sriov_apply_for_vf(dev->address, vf_note, sizeof(vf_note));
	if (r < 0)
		return dp_error_set(r, "%s not bound to %s (rule %s): %s", dev->address, rule->driver,
		                    rule->name, dp_error_message());
	char *addr = (char *)dev->address;
	struct dp_bind_options o = {.driver = rule->driver, .only_named = true,
	                            .override_is_ours = true, .timeout_ms = APPLY_TIMEOUT_MS};
	struct dp_bind_plan plan;
	r = dp_bind_plan_make(DP_BIND, list, &addr, 1, false, &o, &plan);
	if (r == 0)
		r = dp_bind_plan_apply(&plan, list, &o);
	dp_bind_plan_free(&plan);
	if (r == 0)
		snprintf(msg, size, "%s bound to %s (rule %s)%s%s", dev->address, rule->driver,
		         rule->name, *vf_note ? "; " : "", vf_note);
	return r;
}

static int apply_vfs(const struct dp_pci_device *dev, const struct dp_persist_rule *rule,
                     char *msg, size_t size)
{
	if (!*dev->driver) {
		snprintf(msg, size, "%s has no driver yet: its %d VFs are created when one binds",
		         dev->address, rule->sriov_numvfs);
		return 0;
	}
	int now = dp_sriov_numvfs(dev->address);
	if (now < 0)
		return dp_error_set(now, "%s: cannot read sriov_numvfs: %s", dev->address, strerror(-now));
	if (now == rule->sriov_numvfs) {
		snprintf(msg, size, "%s has %d VFs already", dev->address, rule->sriov_numvfs);
		return 0;
	}
	char path[128], want[16];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", dev->address);
	snprintf(want, sizeof(want), "%d", rule->sriov_numvfs);
	/* the kernel takes a new count only from zero, and going through zero destroys VFs
	 * that may be in use: at boot the count is zero, anything else is someone's choice */
	if (now != 0)
		return dp_error_set(-EBUSY, "%s has %d VFs, the rule %s wants %d: left alone (changing "
		                    "the count destroys the VFs; write 0, then %d, to sriov_numvfs yourself)",
		                    dev->address, now, rule->name, rule->sriov_numvfs, rule->sriov_numvfs);
	int r = dp_fs_require_kernel();
	if (r < 0)
		return r;
	r = dp_fs_write(path, want, APPLY_TIMEOUT_MS);
	if (r < 0)
		return dp_error_set(r, "%s: cannot set sriov_numvfs to %d: %s (does %s support it?)",
		                    dev->address, rule->sriov_numvfs, strerror(-r), dev->driver);
	snprintf(msg, size, "%s: created %d VFs (rule %s)", dev->address, rule->sriov_numvfs, rule->name);
	/* the new VFs have no settings: the stored ones go back before any VF is bound */
	char applied[160];
	if ((r = dp_sriov_apply(dev->address, applied, sizeof(applied))) < 0)
		return dp_error_set(r, "%s, but its stored VF settings were not applied: %s", msg,
		                    dp_error_message());
	if (r > 0)
		snprintf(msg + strlen(msg), size - strlen(msg), "; %s", applied);
	return 0;
}

int dp_persist_apply(const char *address, char *message, size_t size)
{
	_cleanup_(dp_pci_list_freep) struct dp_pci_list list = {0};
	_cleanup_(dp_persist_rules_freep) struct dp_persist_rules rules = {0};
	struct dp_pci_device *dev = NULL;
	struct found f;
	message[0] = '\0';
	int r = load(address, &list, &rules, &dev, &f);
	if (r < 0)
		return r;
	if (!f.bind && !f.vfs)
		snprintf(message, size, "no persisted rule matches %s", dev->address);
	/* a device the host needs is told by the critical marks: without them, no binding */
	if (f.bind && ((r = dp_critical_mark(&list)) < 0 ||
	               (r = apply_binding(&list, dev, f.bind, message, size)) < 0))
		return r;
	if (f.vfs) {
		char more[256];
		if ((r = apply_vfs(dev, f.vfs, more, sizeof(more))) < 0)
			return r;
		snprintf(message + strlen(message), size - strlen(message), "%s%s", *message ? "; " : "", more);
	}
	return 0;
}

int dp_persist_match(const char *address, char *driver, size_t size)
{
	_cleanup_(dp_pci_list_freep) struct dp_pci_list list = {0};
	_cleanup_(dp_persist_rules_freep) struct dp_persist_rules rules = {0};
	struct dp_pci_device *dev = NULL;
	struct found f;
	driver[0] = '\0';
	int r = load(address, &list, &rules, &dev, &f);
	if (r == 0 && f.bind)
		snprintf(driver, size, "%s", f.bind->driver);
	return r;
}
