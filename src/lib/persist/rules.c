/* Persisted bindings: one rule file per device (or id, or serial) in /etc/devpass/persist.d,
 * and what makes them happen at boot, generated from all of them:
 *   /etc/udev/rules.d/05-devpass.rules  sets driver_override the moment the device is
 *       added, before 80-drivers.rules loads the host driver's module, and loads the
 *       wanted driver's module, which then binds the device by itself;
 *   devpass-persist@.service  (pulled in by the rule, like driverctl's unit) runs
 *       `devpass persist --apply` early, which also takes a device from a host driver
 *       that was already loaded (built in, or from the initramfs) and sets VF counts.
 * Rules are keyed by address, by ids or by the PCIe serial number; never by IOMMU group
 * number, which can change from one boot to the next. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fs/sysroot.h"
#include "persist/persist.h"
#include "inventory/inventory.h"
#include "util/error.h"

#define FEATURE "persist"
#define RULES_DIR "/etc/devpass/persist.d"
#define UDEV_RULES "/etc/udev/rules.d/05-devpass.rules"
#define UNIT "/etc/systemd/system/devpass-persist@.service"

static const char *const key_names[] = {"address", "id", "serial"};

const char *dp_persist_key_name(enum dp_persist_key key)
{
	return key_names[key];
}

int dp_persist_key_parse(const char *text, enum dp_persist_key *out)
{
	for (size_t i = 0; i < sizeof(key_names) / sizeof(*key_names); i++)
		if (strcmp(text, key_names[i]) == 0) {
			*out = (enum dp_persist_key)i;
			return 0;
		}
	return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "by", "'%s' is not a persist key: "
	                           "use address, id or serial", text);
}

static int serial_parse(const char *text, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0;
	for (const char *p = text; *p; p++) {
		if (*p == '-' || *p == ':')
			continue;
		const char *hex = "0123456789abcdef", *h = strchr(hex, *p | 0x20);
		if (!h || !*h || ++digits > 16)
			return -EINVAL;
		v = v << 4 | (uint64_t)(h - hex);
	}
	*out = v;
	return digits == 16 ? 0 : -EINVAL;
}

void dp_persist_rule_describe(const struct dp_persist_rule *rule, char *out, size_t size)
{
	char serial[32];
	switch (rule->key) {
	case DP_KEY_ADDRESS:
		snprintf(out, size, "%s", rule->address);
		break;
	case DP_KEY_ID:
		if (rule->has_subsys)
			snprintf(out, size, "%04x:%04x subsystem %04x:%04x", rule->vendor, rule->device,
			         rule->subsys_vendor, rule->subsys_device);
		else
			snprintf(out, size, "%04x:%04x", rule->vendor, rule->device);
		break;
	case DP_KEY_SERIAL:
		dp_dsn_format(rule->serial, serial, sizeof(serial));
		snprintf(out, size, "%04x:%04x serial %s", rule->vendor, rule->device, serial);
		break;
	}
}

bool dp_persist_rule_matches(const struct dp_persist_rule *rule, const struct dp_pci_device *dev,
                             const struct dp_pci_details *details)
{
	switch (rule->key) {
	case DP_KEY_ADDRESS:
		return strcmp(rule->address, dev->address) == 0;
	case DP_KEY_ID:
		return rule->vendor == dev->vendor && rule->device == dev->device &&
		       (!rule->has_subsys || (dev->has_subsys && rule->subsys_vendor == dev->subsys_vendor &&
		                              rule->subsys_device == dev->subsys_device));
	case DP_KEY_SERIAL:
		return rule->vendor == dev->vendor && rule->device == dev->device && details &&
		       details->has_dsn && details->dsn == rule->serial;
	}
	return false;
}

/* ---- rule files ------------------------------------------------------------------------ */

static void rule_name(struct dp_persist_rule *r)
{
	char serial[32];
	switch (r->key) {
	case DP_KEY_ADDRESS:
		snprintf(r->name, sizeof(r->name), "pci-%s", r->address);
		break;
	case DP_KEY_ID:
		if (r->has_subsys)
			snprintf(r->name, sizeof(r->name), "pci-%04x:%04x:%04x:%04x", r->vendor, r->device,
			         r->subsys_vendor, r->subsys_device);
		else
			snprintf(r->name, sizeof(r->name), "pci-%04x:%04x", r->vendor, r->device);
		break;
	case DP_KEY_SERIAL:
		snprintf(serial, sizeof(serial), "%016" PRIx64, r->serial);
		snprintf(r->name, sizeof(r->name), "pci-serial-%s", serial);
		break;
	}
	if (r->sriov_numvfs >= 0)
		strncat(r->name, "-vfs", sizeof(r->name) - strlen(r->name) - 1);
}

static char *rule_text(const struct dp_persist_rule *r)
{
	char serial[32];
	char *s = dp_text_printf("# Persisted by devpass; remove with 'devpass persist --remove %s'.\n"
	                         "match=%s\n", r->address, key_names[r->key]);
	dp_text_append(&s, "address=%s\n", r->address);
	dp_text_append(&s, "id=%04x:%04x\n", r->vendor, r->device);
	if (r->has_subsys)
		dp_text_append(&s, "subsystem=%04x:%04x\n", r->subsys_vendor, r->subsys_device);
	if (r->key == DP_KEY_SERIAL) {
		dp_dsn_format(r->serial, serial, sizeof(serial));
		dp_text_append(&s, "serial=%s\n", serial);
	}
	if (*r->driver)
		dp_text_append(&s, "driver=%s\n", r->driver);
	if (r->sriov_numvfs >= 0)
		dp_text_append(&s, "sriov_numvfs=%d\n", r->sriov_numvfs);
	return s;
}

static int rule_field(struct dp_persist_rule *r, const char *key, const char *value)
{
	unsigned a, b;
	char *end;
	if (strcmp(key, "match") == 0)
		return dp_persist_key_parse(value, &r->key);
	if (strcmp(key, "address") == 0) {
		struct dp_pci_addr addr;
		if (dp_pci_addr_parse(value, &addr) < 0)
			return -EINVAL;
		dp_pci_addr_format(&addr, r->address);
		return 0;
	}
	if (strcmp(key, "id") == 0 || strcmp(key, "subsystem") == 0) {
		if (sscanf(value, "%4x:%4x", &a, &b) != 2)
			return -EINVAL;
		if (key[0] == 'i')
			r->vendor = (uint16_t)a, r->device = (uint16_t)b;
		else
			r->subsys_vendor = (uint16_t)a, r->subsys_device = (uint16_t)b, r->has_subsys = true;
		return 0;
	}
	if (strcmp(key, "serial") == 0)
		return serial_parse(value, &r->serial);
	if (strcmp(key, "driver") == 0) {
		if (!*value || strchr(value, '/') || strlen(value) >= sizeof(r->driver))
			return -EINVAL;
		snprintf(r->driver, sizeof(r->driver), "%s", value);
		return 0;
	}
	if (strcmp(key, "sriov_numvfs") == 0) {
		long n = strtol(value, &end, 10);
		if (*end || n < 0 || n > 65535)
			return -EINVAL;
		r->sriov_numvfs = (int)n;
		return 0;
	}
	return 0;   /* unknown keys: from a newer devpass, ignored */
}

static int rule_parse(const char *path, const char *text, struct dp_persist_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->sriov_numvfs = -1;
	for (const char *line = text; *line;) {
		const char *eol = strchrnul(line, '\n');
		char buf[256];
		snprintf(buf, sizeof(buf), "%.*s", (int)(eol - line), line);
		char *eq = strchr(buf, '=');
		if (buf[0] != '#' && eq) {
			*eq = '\0';
			if (rule_field(r, buf, eq + 1) < 0)
				return dp_error_set(-EINVAL, "%s: bad value for %s: '%s'", path, buf, eq + 1);
		}
		line = *eol ? eol + 1 : eol;
	}
	if (!*r->address || (!*r->driver && r->sriov_numvfs < 0))
		return dp_error_set(-EINVAL, "%s: needs address= and driver= or sriov_numvfs=", path);
	rule_name(r);
	return 0;
}

static int rule_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dp_persist_rule *)a)->name, ((const struct dp_persist_rule *)b)->name);
}

/* One rule file into out: a bad one goes to out->invalid (it must not stop the others
 * from applying at boot); -ENOMEM, or what reading it failed with. */
static int rule_file_read(const char *path, struct dp_persist_rules *out)
{
	_cleanup_free_ char *text = NULL;
	struct dp_persist_rule rule;
	int r = dp_fs_read_all(path, &text, NULL);
	if (r < 0)
		return dp_error_set(r, "cannot read %s: %s", path, strerror(-r));
	if (rule_parse(path, text, &rule) < 0)
		return dp_strv_add(&out->invalid, dp_error_message()) < 0 ? dp_oom() : 0;
	if (dp_array_grow(&out->r, out->n, 1, sizeof(*out->r)) < 0)
		return dp_oom();
	out->r[out->n++] = rule;
	return 0;
}

int dp_persist_rules_read(struct dp_persist_rules *out)
{
	memset(out, 0, sizeof(*out));
	_cleanup_(dp_strv_freep) struct dp_strv names = {0};
	int r = dp_fs_list(RULES_DIR, ".conf", &names);
	if (r < 0)
		return r == -ENOENT ? 0 : dp_error_set(r, "cannot read %s: %s", RULES_DIR, strerror(-r));
	for (size_t i = 0; r == 0 && i < names.n; i++)
		r = rule_file_read(names.v[i], out);
	if (out->n)
		qsort(out->r, out->n, sizeof(*out->r), rule_cmp);
	return r;
}

void dp_persist_rules_free(struct dp_persist_rules *rules)
{
	free(rules->r);
	dp_strv_free(&rules->invalid);
	memset(rules, 0, sizeof(*rules));
}

/* ---- udev rules and the unit --------------------------------------------------------------- */

static void udev_rule_append(char **s, const struct dp_persist_rule *r)
{
	char what[128];
	dp_persist_rule_describe(r, what, sizeof(what));
	const char *pull = "TAG+=\"systemd\", ENV{SYSTEMD_WANTS}+=\"devpass-persist@$kernel.service\"";
	char match[256];
	if (r->key == DP_KEY_ADDRESS)
		snprintf(match, sizeof(match), "KERNEL==\"%s\"", r->address);
	else if (r->key == DP_KEY_ID && r->has_subsys)
		snprintf(match, sizeof(match), "ATTR{vendor}==\"0x%04x\", ATTR{device}==\"0x%04x\", "
		         "ATTR{subsystem_vendor}==\"0x%04x\", ATTR{subsystem_device}==\"0x%04x\"",
		         r->vendor, r->device, r->subsys_vendor, r->subsys_device);
	else
		snprintf(match, sizeof(match), "ATTR{vendor}==\"0x%04x\", ATTR{device}==\"0x%04x\"",
		         r->vendor, r->device);
	if (r->sriov_numvfs >= 0) {
		/* VFs can only be created once the PF's driver is bound */
		dp_text_append(s, "\n# %s: %d VFs\n", what, r->sriov_numvfs);
		dp_text_append(s, "ACTION==\"add|bind\", SUBSYSTEM==\"pci\", %s, DRIVER==\"?*\", %s\n", match, pull);
	} else if (r->key == DP_KEY_SERIAL) {
		/* udev cannot read the serial number: devpass tells it (IMPORT), the generic
		 * rule at the end of the file acts on the answer */
		dp_text_append(s, "\n# %s -> %s\n", what, r->driver);
		dp_text_append(s, "ACTION==\"add\", SUBSYSTEM==\"pci\", %s, IMPORT{program}=\"%s persist --match $kernel\"\n",
		               match, DP_PERSIST_BIN);
	} else {
		dp_text_append(s, "\n# %s -> %s\n", what, r->driver);
		dp_text_append(s, "ACTION==\"add\", SUBSYSTEM==\"pci\", %s, ATTR{driver_override}=\"%s\", "
		               "RUN{builtin}+=\"kmod load %s\", %s\n", match, r->driver, r->driver, pull);
	}
}

static char *udev_rules_text(const struct dp_persist_rules *rules)
{
	char *s = dp_text_printf("%s", "# Written by devpass persist: passthrough bindings applied as each device\n"
	                 "# appears, before 80-drivers.rules loads its host driver. Generated from\n"
	                 "# /etc/devpass/persist.d; change it with 'devpass persist', not by hand.\n");
	bool serial = false;
	for (size_t i = 0; i < rules->n; i++) {
		udev_rule_append(&s, &rules->r[i]);
		serial |= rules->r[i].key == DP_KEY_SERIAL && rules->r[i].sriov_numvfs < 0;
	}
	if (serial)
		dp_text_append(&s, "\n# devices whose serial number matched a rule above\n"
		               "ACTION==\"add\", SUBSYSTEM==\"pci\", ENV{DEVPASS_DRIVER}==\"?*\", "
		               "ATTR{driver_override}=\"$env{DEVPASS_DRIVER}\", "
		               "RUN{builtin}+=\"kmod load $env{DEVPASS_DRIVER}\", TAG+=\"systemd\", "
		               "ENV{SYSTEMD_WANTS}+=\"devpass-persist@$kernel.service\"\n");
	return s;
}

static char *unit_text(void)
{
	return dp_text_printf(
		"# Written by devpass persist; removed with the last persisted rule.\n"
		"[Unit]\n"
		"Description=devpass: persisted passthrough setup of PCI device %%I\n"
		"DefaultDependencies=no\n"
		"After=systemd-udevd.service systemd-modules-load.service systemd-remount-fs.service\n"
		"RequiresMountsFor=/var/lib/devpass\n"
		"Before=basic.target shutdown.target\n"
		"Conflicts=shutdown.target\n"
		"\n"
		"[Service]\n"
		"Type=oneshot\n"
		"RemainAfterExit=yes\n"
		"ExecStart=%s persist --apply %%I\n", DP_PERSIST_BIN);
}

/* Generated files are devpass's, but an admin may have edited one since: kept, not lost. */
static int put_owned(struct dp_changeset *cs, const char *path, const char *text)
{
	int edited = dp_changeset_edited_since(cs, path);
	if (edited != 0)
		return edited < 0 ? edited : 0;
	return dp_changeset_put(cs, path, text, 0644);
}

static int delete_owned(struct dp_changeset *cs, const char *path)
{
	int edited = dp_changeset_edited_since(cs, path);
	if (edited != 0)
		return edited < 0 ? edited : 0;
	return dp_changeset_delete(cs, path);
}

/* Nothing left to apply: the glue goes, and the directories devpass made. */
static int stage_glue_removal(struct dp_changeset *cs)
{
	_cleanup_(dp_journal_list_freep) struct dp_journal_list l = {0};
	int r = delete_owned(cs, UDEV_RULES);
	if (r < 0 || (r = delete_owned(cs, UNIT)) < 0 || (r = dp_journal_list(FEATURE, &l)) < 0)
		return r;
	for (size_t i = 0; i < l.dirs.n; i++)
		if (dp_strv_add(&cs->rmdirs, l.dirs.v[i]) < 0)
			return dp_oom();
	return 0;
}

static int stage_glue(struct dp_changeset *cs, const struct dp_persist_rules *rules)
{
	_cleanup_free_ char *udev = udev_rules_text(rules), *unit = unit_text();
	int r = put_owned(cs, UDEV_RULES, udev);
	return r < 0 ? r : put_owned(cs, UNIT, unit);
}

static int stage_reload_commands(struct dp_changeset *cs)
{
	if (dp_changeset_empty(cs))
		return 0;
	int r = dp_changeset_command_optional(cs, "udevadm control --reload");
	if (r < 0 || (r = dp_changeset_command_optional(cs, "systemctl daemon-reload")) < 0)
		return r;
	/* initramfs-tools copies /etc/udev/rules.d into the initramfs: rebuilt, the rule
	 * wins against host drivers loaded there, and a removed rule does not linger */
	if (dp_fs_exists("/etc/initramfs-tools"))
		return dp_changeset_command(cs, "update-initramfs -u -k all");
	return 0;
}

/* Stages rule files and the boot glue for exactly this set of rules. */
static int stage_rules(struct dp_changeset *cs, struct dp_persist_rules *rules,
                       const struct dp_persist_rules *removed)
{
	char path[512];
	int r;
	for (size_t i = 0; i < removed->n; i++) {
		snprintf(path, sizeof(path), "%s/%s.conf", RULES_DIR, removed->r[i].name);
		if ((r = delete_owned(cs, path)) < 0)
			return r;
	}
	qsort(rules->r, rules->n, sizeof(*rules->r), rule_cmp);
	for (size_t i = 0; i < rules->n; i++) {
		_cleanup_free_ char *text = rule_text(&rules->r[i]);
		snprintf(path, sizeof(path), "%s/%s.conf", RULES_DIR, rules->r[i].name);
		if ((r = put_owned(cs, path, text)) < 0)
			return r;
	}
	r = rules->n ? stage_glue(cs, rules) : stage_glue_removal(cs);
	int c = stage_reload_commands(cs);   /* staged even after a failure, as before */
	return r < 0 ? r : c;
}

/* ---- persist ---------------------------------------------------------------------------------- */

static int rule_add(struct dp_persist_rules *rules, const struct dp_persist_rule *rule)
{
	for (size_t i = 0; i < rules->n; i++)
		if (strcmp(rules->r[i].name, rule->name) == 0) {
			rules->r[i] = *rule;   /* the same key again: the newer wish wins */
			return 0;
		}
	if (dp_array_grow(&rules->r, rules->n, 1, sizeof(*rules->r)) < 0)
		return dp_oom();
	rules->r[rules->n++] = *rule;
	return 0;
}

static int rule_for(const struct dp_pci_device *dev, const struct dp_persist_options *o,
                    struct dp_persist_rule *rule)
{
	memset(rule, 0, sizeof(*rule));
	rule->key = o->key;
	snprintf(rule->address, sizeof(rule->address), "%s", dev->address);
	rule->vendor = dev->vendor;
	rule->device = dev->device;
	rule->has_subsys = dev->has_subsys;
	rule->subsys_vendor = dev->subsys_vendor;
	rule->subsys_device = dev->subsys_device;
	rule->sriov_numvfs = o->vfs;
	if (o->vfs < 0)
		snprintf(rule->driver, sizeof(rule->driver), "%s", o->driver ? o->driver : "vfio-pci");
	if (o->key == DP_KEY_SERIAL || o->vfs >= 0) {
		struct dp_pci_details d;
		int r = dp_pci_details_read(dev, &d);
		if (r < 0)
			return r;
		if (o->key == DP_KEY_SERIAL && !d.has_dsn)
			r = dp_error_set_remedy(-ENOTSUP, DP_REMEDY_PARAMETER, "by", "%s has no Device Serial "
			                        "Number capability: persist it by address or by id", dev->address);
		else if (o->vfs >= 0 && d.sriov_total < 0)
			r = dp_error_set_remedy(-ENOTSUP, DP_REMEDY_PARAMETER, "vfs", "%s is not an SR-IOV "
			                        "physical function: a VF count needs one", dev->address);
		else if (o->vfs > d.sriov_total)
			r = dp_error_set(-ERANGE, "%s supports at most %d VFs (sriov_totalvfs), not %d",
			                 dev->address, d.sriov_total, o->vfs);
		rule->serial = d.dsn;
		dp_pci_details_free(&d);
		if (r < 0)
			return r;
	}
	rule_name(rule);
	return 0;
}

/* The devices a persisted binding covers: as bind, the whole IOMMU group for vfio-pci. */
static int targets_collect(const struct dp_pci_list *list, const struct dp_group_list *groups,
                           const struct dp_pci_device *dev, const struct dp_persist_options *o,
                           struct dp_strv *out)
{
	bool vfio = o->vfs < 0 && (!o->driver || strcmp(o->driver, "vfio-pci") == 0);
	if (!vfio) {
		if (!dp_strv_contains(out, dev->address) && dp_strv_add(out, dev->address) < 0)
			return dp_oom();
		return 0;
	}
	if (dev->iommu_group == DP_NO_GROUP)
		return dp_error_set_remedy(-ENODEV, DP_REMEDY_SETUP_IOMMU, dev->address, "%s has no "
		                           "IOMMU group: vfio-pci needs the IOMMU on", dev->address);
	const struct dp_iommu_group *g = dp_groups_find(groups, dev->iommu_group);
	for (size_t i = 0; g && i < g->n; i++) {
		const struct dp_pci_device *m = &list->dev[g->members[i]];
		if (!dp_pci_device_is_bridge(m) && !dp_strv_contains(out, m->address) &&
		    dp_strv_add(out, m->address) < 0)
			return dp_oom();
	}
	return 0;
}

/* Other devices a key would catch at boot: said loudly; host-critical ones refused. */
static int key_overlap_check(const struct dp_pci_list *list, const struct dp_persist_rule *rule,
                             const struct dp_strv *targets, bool force, struct dp_changeset *cs)
{
	if (rule->key != DP_KEY_ID)
		return 0;
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *d = &list->dev[i];
		if (dp_strv_contains(targets, d->address) || !dp_persist_rule_matches(rule, d, NULL))
			continue;
		if (d->critical.n && !force)
			return dp_error_set_remedy(-EPERM, DP_REMEDY_FORCE, d->address, "the id of %s also "
			                           "matches %s, which the host needs (%s): persist it by "
			                           "address or by serial instead", rule->address, d->address,
			                           d->critical.v[0]);
		if (dp_strv_addf(&cs->warnings, "a rule by id also takes %s: it has the same ids as %s "
		             "and will be bound to %s at boot too%s", d->address, rule->address,
		             *rule->driver ? rule->driver : "its VF count", d->critical.n ? " (host-critical!)" : "") < 0)
			return dp_oom();
	}
	return 0;
}

/* The name goes into a udev rule and a sysfs path: a plain module/driver name only. */
static int driver_name_check(const char *driver)
{
	if (!driver)
		return 0;
	size_t ok = strspn(driver, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
	if (!*driver || driver[ok] || strlen(driver) >= 64 || strcmp(driver, "none") == 0)
		return dp_error_set(-EINVAL, "'%s' is not a driver name", driver);
	return 0;
}

static int binary_check(void)
{
	if (dp_fs_exists(DP_PERSIST_BIN))
		return 0;
	return dp_error_set(-ENOENT, "the boot rules run %s, which is not installed%s: install "
	                    "devpass first (ninja -C build install)", DP_PERSIST_BIN,
	                    dp_root_is_host() ? "" : " under the root");
}

/* driverctl binds at boot too (its own udev rule): two tools for one device fight. */
static int driverctl_warn(const char *address, struct dp_changeset *cs)
{
	char path[128], driver[64];
	snprintf(path, sizeof(path), "/etc/driverctl.d/pci-%s", address);
	if (dp_fs_read_line(path, driver, sizeof(driver)) > 0 &&
	    dp_strv_addf(&cs->warnings, "%s has a driverctl override to %s (%s), which applies at "
	                 "boot too: keep one of them (driverctl unset-override %s removes it)",
	                 address, driver, path, address) < 0)
		return dp_oom();
	return 0;
}

/* The rule for one target, checked and added to rules. */
static int target_rule_add(const struct dp_pci_list *list, const struct dp_pci_device *dev,
                           const struct dp_strv *targets, const struct dp_persist_options *o,
                           struct dp_persist_rules *rules, struct dp_changeset *cs)
{
	struct dp_persist_rule rule;
	int r;
	if (dev->critical.n && !o->force && o->vfs < 0)
		return dp_error_set_remedy(-EPERM, DP_REMEDY_FORCE, dev->address, "%s is needed by the "
		                        "host (%s): not persisting a binding that would take it at "
		                        "every boot", dev->address, dev->critical.v[0]);
	if ((r = rule_for(dev, o, &rule)) < 0 ||
	    (r = key_overlap_check(list, &rule, targets, o->force, cs)) < 0 ||
	    (r = rule_add(rules, &rule)) < 0)
		return r;
	return driverctl_warn(dev->address, cs);
}

/* A binding to vfio-pci can be had now as well (the step the front end names); a VF
 * count or another driver is the boot path's business. */
static int next_boot_note(struct dp_changeset *cs, const struct dp_persist_options *o,
                          const struct dp_strv *targets)
{
	int r;
	if (o->vfs >= 0)
		r = dp_strv_add(&cs->notes, "the rules apply from the next boot");
	else if (o->driver && strcmp(o->driver, "vfio-pci") != 0)
		r = dp_strv_addf(&cs->notes, "the rules apply from the next boot; binding the devices to "
		             "%s applies them now", o->driver);
	else
		return dp_changeset_note_step(cs, "the rules apply from the next boot; binding the devices "
		                       "applies them now", DP_REMEDY_BIND, targets);
	return r < 0 ? dp_oom() : 0;
}

int dp_persist_plan(const struct dp_pci_list *list, char *const *addrs, size_t n,
                    const struct dp_persist_options *o, struct dp_changeset *cs)
{
	_cleanup_(dp_persist_rules_freep) struct dp_persist_rules rules = {0};
	struct dp_persist_rules none = {0};
	_cleanup_(dp_groups_freep) struct dp_group_list groups = {0};
	_cleanup_(dp_strv_freep) struct dp_strv targets = {0};
	dp_changeset_init(cs, FEATURE);
	int r = driver_name_check(o->driver);
	if (r < 0 || (r = binary_check()) < 0 || (r = dp_persist_rules_read(&rules)) < 0 ||
	    (r = dp_groups_build(list, &groups)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct dp_pci_device *dev;
		if ((r = dp_pci_device_lookup(list, addrs[i], &dev)) < 0 ||
		    (r = targets_collect(list, &groups, dev, o, &targets)) < 0)
			return r;
	}
	for (size_t i = 0; i < targets.n; i++)
		if ((r = target_rule_add(list, dp_pci_list_find(list, targets.v[i]), &targets, o,
		                         &rules, cs)) < 0)
			return r;
	if ((r = stage_rules(cs, &rules, &none)) < 0)
		return r;
	return dp_changeset_empty(cs) ? 0 : next_boot_note(cs, o, &targets);
}

/* ---- remove -------------------------------------------------------------------------------- */

/* 1 when the rule covers one of the targets, 0 when not, -ENOMEM. */
static int rule_selected(const struct dp_persist_rule *rule, const struct dp_pci_list *list,
                         const struct dp_strv *targets)
{
	for (size_t i = 0; i < targets->n; i++) {
		const struct dp_pci_device *dev = dp_pci_list_find(list, targets->v[i]);
		if (strcmp(rule->address, targets->v[i]) == 0 ||
		    (dev && rule->key == DP_KEY_ID && dp_persist_rule_matches(rule, dev, NULL)))
			return 1;
		if (dev && rule->key == DP_KEY_SERIAL) {
			struct dp_pci_details d;
			int r = dp_pci_details_read(dev, &d);
			if (r < 0)
				return r;
			bool m = dp_persist_rule_matches(rule, dev, &d);
			dp_pci_details_free(&d);
			if (m)
				return 1;
		}
	}
	return 0;
}

/* The addresses given, as written (devpass may have a rule for one absent now), and the
 * rest of each one's IOMMU group. */
static int remove_targets(const struct dp_pci_list *list, const struct dp_group_list *groups,
                          char *const *addrs, size_t n, struct dp_strv *targets)
{
	struct dp_persist_options whole = {.vfs = -1};
	for (size_t i = 0; i < n; i++) {
		struct dp_pci_addr a;
		char text[DP_ADDR_LEN];
		struct dp_pci_device *dev;
		int r = dp_pci_addr_parse(addrs[i], &a);
		if (r < 0)
			return r;
		dp_pci_addr_format(&a, text);
		if (dp_strv_add(targets, text) < 0)
			return dp_oom();
		if (dp_pci_device_lookup(list, text, &dev) == 0 && dev->iommu_group != DP_NO_GROUP &&
		    targets_collect(list, groups, dev, &whole, targets) == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

int dp_persist_remove_plan(const struct dp_pci_list *list, char *const *addrs, size_t n,
                           bool all, struct dp_changeset *cs)
{
	_cleanup_(dp_persist_rules_freep) struct dp_persist_rules rules = {0}, keep = {0}, drop = {0};
	_cleanup_(dp_groups_freep) struct dp_group_list groups = {0};
	_cleanup_(dp_strv_freep) struct dp_strv targets = {0};
	dp_changeset_init(cs, FEATURE);
	int r = dp_persist_rules_read(&rules);
	if (r < 0 || (r = dp_groups_build(list, &groups)) < 0 ||
	    (r = remove_targets(list, &groups, addrs, n, &targets)) < 0)
		return r;
	for (size_t i = 0; i < rules.n; i++) {
		int selected = all ? 1 : rule_selected(&rules.r[i], list, &targets);
		if (selected < 0)
			return selected;
		struct dp_persist_rules *to = selected ? &drop : &keep;
		if (dp_array_grow(&to->r, to->n, 1, sizeof(*to->r)) < 0)
			return dp_oom();
		to->r[to->n++] = rules.r[i];
	}
	if (!all && !drop.n)
		return dp_error_set_remedy(-ENOENT, DP_REMEDY_PERSIST_LIST, n ? addrs[0] : "",
		                        "no persisted rule for %s", n ? addrs[0] : "these devices");
	if ((r = stage_rules(cs, &keep, &drop)) < 0)
		return r;
	if (drop.n)
		return dp_changeset_note_step(cs, "the devices keep their current driver until the next "
		                       "boot; restoring them gives them back now", DP_REMEDY_RESTORE,
		                       all ? NULL : &targets);
	return 0;
}

/* ---- state ----------------------------------------------------------------------------------- */

int dp_sriov_numvfs(const char *address)
{
	char path[128], now[16] = "";
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", address);
	int r = dp_fs_read_line(path, now, sizeof(now));
	return r < 0 ? r : atoi(now);
}

enum dp_persist_state dp_persist_rule_state(const struct dp_persist_rule *rule,
                                            const struct dp_pci_list *list, struct dp_strv *devices)
{
	bool all = true;
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *dev = &list->dev[i];
		bool m;
		if (rule->key == DP_KEY_SERIAL) {
			if (dev->vendor != rule->vendor || dev->device != rule->device)
				continue;
			struct dp_pci_details d;
			dp_pci_details_read(dev, &d);
			m = dp_persist_rule_matches(rule, dev, &d);
			dp_pci_details_free(&d);
		} else
			m = dp_persist_rule_matches(rule, dev, NULL);
		if (!m)
			continue;
		dp_strv_add(devices, dev->address);
		all &= rule->sriov_numvfs >= 0 ? dp_sriov_numvfs(dev->address) == rule->sriov_numvfs
		                               : strcmp(dev->driver, rule->driver) == 0;
	}
	return !devices->n ? DP_PERSIST_ABSENT : all ? DP_PERSIST_ACTIVE : DP_PERSIST_INACTIVE;
}

const char *dp_persist_state_name(enum dp_persist_state s)
{
	return s == DP_PERSIST_ACTIVE ? "active" : s == DP_PERSIST_INACTIVE ? "not active" : "absent";
}
