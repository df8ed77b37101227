/* `persist --ids`: the classic method, for users who want it. vfio-pci claims every device
 * with the listed vendor:device ids as it loads, and softdeps make the host drivers load
 * it first; the initramfs gets vfio-pci and this file, because a host driver that is in
 * the initramfs would otherwise take the device before the root filesystem is mounted.
 * The ids cannot tell two identical devices apart, so devpass refuses ids that a
 * host-critical device shares and warns about every other device they catch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/sysroot.h"
#include "persist/persist.h"
#include "util/error.h"

#define FEATURE "persist-ids"
#define MODPROBE_CONF "/etc/modprobe.d/devpass-vfio.conf"
#define INITRAMFS_TOOLS_HOOK "/etc/initramfs-tools/hooks/devpass-vfio"
#define DRACUT_CONF "/etc/dracut.conf.d/devpass-vfio.conf"
#define MKINITCPIO_CONF "/etc/mkinitcpio.conf.d/devpass-vfio.conf"

/* "softdep MODULE pre: vfio-pci" lines devpass wrote before: a second call keeps them */
static void softdeps_parse(const char *text, struct dp_strv *mods)
{
	for (const char *line = text; line && *line;) {
		char mod[64];
		if (sscanf(line, "softdep %63s pre: vfio-pci", mod) == 1 && !dp_strv_contains(mods, mod))
			dp_strv_add(mods, mod);
		line = dp_text_next_line(line);
	}
}

/* "options vfio-pci ids=a:b,c:d" lines of one modprobe.d file */
static void ids_parse(const char *text, struct dp_strv *ids)
{
	for (const char *line = text; line && *line;) {
		const char *eol = strchrnul(line, '\n');
		char buf[1024];
		snprintf(buf, sizeof(buf), "%.*s", (int)(eol - line), line);
		char *save = NULL, *w0 = strtok_r(buf, " \t", &save), *w1 = strtok_r(NULL, " \t", &save);
		if (w0 && w1 && strcmp(w0, "options") == 0 &&
		    (strcmp(w1, "vfio-pci") == 0 || strcmp(w1, "vfio_pci") == 0))
			for (char *opt; (opt = strtok_r(NULL, " \t", &save));)
				if (strncmp(opt, "ids=", 4) == 0)
					for (char *s2 = NULL, *id = strtok_r(opt + 4, ",", &s2); id; id = strtok_r(NULL, ",", &s2))
						if (!dp_strv_contains(ids, id))
							dp_strv_add(ids, id);
		line = *eol ? eol + 1 : eol;
	}
}

int dp_vfio_ids_configured(struct dp_strv *ids, struct dp_strv *where)
{
	struct dp_strv files = {0};
	dp_fs_list("/etc/modprobe.d", ".conf", &files);
	for (size_t f = 0; f < files.n; f++) {
		const char *path = files.v[f];
		char *text = NULL;
		size_t before = ids->n;
		if (dp_fs_read_all(path, &text, NULL) == 0)
			ids_parse(text, ids);
		for (size_t i = before; i < ids->n; i++)
			dp_strv_add(where, path);
		free(text);
	}
	dp_strv_free(&files);
	char cmdline[4096] = "";
	dp_fs_read_line("/proc/cmdline", cmdline, sizeof(cmdline));
	for (char *save = NULL, *arg = strtok_r(cmdline, " ", &save); arg; arg = strtok_r(NULL, " ", &save))
		if (strncmp(arg, "vfio-pci.ids=", 13) == 0 || strncmp(arg, "vfio_pci.ids=", 13) == 0)
			for (char *s2 = NULL, *id = strtok_r(arg + 13, ",", &s2); id; id = strtok_r(NULL, ",", &s2)) {
				size_t before = ids->n;
				if (!dp_strv_contains(ids, id))
					dp_strv_add(ids, id);
				if (ids->n > before)
					dp_strv_add(where, "the kernel command line");
			}
	return 0;
}

/* ---- vfio-pci configuration other tools made ---------------------------------------- */

static void foreign_add(struct dp_foreign_list *out, const char *source, const char *kind,
                        const char *key, const char *driver)
{
	struct dp_foreign_config *f = realloc(out->f, (out->n + 1) * sizeof(*out->f));
	if (!f)
		return;
	out->f = f;
	f = &out->f[out->n++];
	f->source = strdup(source);
	f->kind = strdup(kind);
	f->key = strdup(key);
	f->driver = strdup(driver);
}

static const char *file_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static void foreign_ids_read(struct dp_foreign_list *out)
{
	struct dp_strv files = {0};
	dp_fs_list("/etc/modprobe.d", ".conf", &files);
	for (size_t f = 0; f < files.n; f++) {
		char *text = NULL;
		struct dp_strv ids = {0};
		if (strcmp(file_name(files.v[f]), "devpass-vfio.conf") != 0 &&
		    dp_fs_read_all(files.v[f], &text, NULL) == 0)
			ids_parse(text, &ids);
		if (ids.n) {
			char *all = dp_strv_join(&ids, ",");
			foreign_add(out, files.v[f], "ids", all, "vfio-pci");
			free(all);
		}
		dp_strv_free(&ids);
		free(text);
	}
	dp_strv_free(&files);
}

/* driverctl keeps one file per overridden device, pci-ADDRESS, holding the driver. */
static void driverctl_read(struct dp_foreign_list *out)
{
	struct dp_strv files = {0};
	dp_fs_list("/etc/driverctl.d", "", &files);
	for (size_t f = 0; f < files.n; f++) {
		const char *name = file_name(files.v[f]);
		char driver[64];
		if (strncmp(name, "pci-", 4) == 0 && dp_fs_read_line(files.v[f], driver, sizeof(driver)) > 0)
			foreign_add(out, files.v[f], "driverctl", name + 4, driver);
	}
	dp_strv_free(&files);
}

int dp_foreign_config_read(struct dp_foreign_list *out)
{
	memset(out, 0, sizeof(*out));
	foreign_ids_read(out);
	driverctl_read(out);
	return 0;
}

void dp_foreign_list_free(struct dp_foreign_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->f[i].source);
		free(l->f[i].kind);
		free(l->f[i].key);
		free(l->f[i].driver);
	}
	free(l->f);
	memset(l, 0, sizeof(*l));
}

/* modprobe passes the options of every line for a module together ("ids=A ids=B"), in
 * the order it reads the files (by file name), and vfio-pci keeps the last ids= it is
 * given. A foreign line read before devpass's file is merged into it (so the last line
 * carries both); one read after it would drop devpass's ids, so it is refused unless it
 * holds them all already. */
static int foreign_ids_merge(struct dp_strv *ids, const struct dp_strv *ours, struct dp_changeset *cs)
{
	struct dp_foreign_list foreign;
	dp_foreign_config_read(&foreign);
	int r = 0;
	for (size_t i = 0; r == 0 && i < foreign.n; i++) {
		const struct dp_foreign_config *f = &foreign.f[i];
		struct dp_strv theirs = {0};
		if (strcmp(f->kind, "ids") != 0)
			continue;
		char line[1100];
		snprintf(line, sizeof(line), "options vfio-pci ids=%s\n", f->key);
		ids_parse(line, &theirs);
		bool after = strcmp(file_name(f->source), "devpass-vfio.conf") > 0;
		const char *missing = NULL;
		for (size_t k = 0; k < ours->n && !missing; k++)
			if (!dp_strv_contains(&theirs, ours->v[k]))
				missing = ours->v[k];
		if (after && missing)
			r = dp_error_set(-EEXIST, "%s sets 'options vfio-pci ids=%s' and is read after "
			                 "devpass-vfio.conf: modprobe passes both ids= to vfio-pci and the last "
			                 "one wins, so %s would be dropped; add %s to that line yourself, or "
			                 "remove the line", f->source, f->key, missing, missing);
		for (size_t k = 0; r == 0 && !after && k < theirs.n; k++)
			if (!dp_strv_contains(ids, theirs.v[k])) {
				dp_strv_add(ids, theirs.v[k]);
				dp_strv_addf(&cs->warnings, "kept vfio-pci ids=%s of %s: modprobe gives vfio-pci "
				             "the last ids= line (devpass's), so it must carry them too",
				             theirs.v[k], f->source);
			}
		dp_strv_free(&theirs);
	}
	dp_foreign_list_free(&foreign);
	return r;
}

static bool id_matches(const char *id, const struct dp_pci_device *dev)
{
	unsigned v, d;
	return sscanf(id, "%4x:%4x", &v, &d) == 2 && v == dev->vendor && d == dev->device;
}

/* The host drivers that could take these devices: the bound one and every module whose
 * alias matches (nouveau and nvidia, say), as modprobe would find them. */
static void host_modules(const struct dp_pci_device *dev, struct dp_strv *mods)
{
	struct dp_pci_details d;
	dp_pci_details_read(dev, &d);
	for (size_t i = 0; i < d.modules.n; i++)
		if (strcmp(d.modules.v[i], "vfio_pci") != 0 && !dp_strv_contains(mods, d.modules.v[i]))
			dp_strv_add(mods, d.modules.v[i]);
	char path[128], module[64];
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/module", dev->driver);
	if (*dev->driver && strcmp(dev->driver, "vfio-pci") != 0 &&
	    dp_fs_readlink_name(path, module, sizeof(module)) == 0 && !dp_strv_contains(mods, module))
		dp_strv_add(mods, module);
	dp_pci_details_free(&d);
}

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *modprobe_text(struct dp_strv *ids, struct dp_strv *mods)
{
	qsort(ids->v, ids->n, sizeof(*ids->v), strv_cmp);
	qsort(mods->v, mods->n, sizeof(*mods->v), strv_cmp);
	char *s = strdup("# Written by 'devpass persist --ids'; 'devpass persist --remove --ids' removes it.\n"
	                 "# vfio-pci takes every device with these vendor:device ids when it loads.\n"
	                 "options vfio-pci ids=");
	for (size_t i = 0; i < ids->n; i++)
		dp_text_append(&s, "%s%s", i ? "," : "", ids->v[i]);
	dp_text_append(&s, "\n");
	if (mods->n)
		dp_text_append(&s, "# load vfio-pci before the drivers that would take them\n");
	for (size_t i = 0; i < mods->n; i++)
		dp_text_append(&s, "softdep %s pre: vfio-pci\n", mods->v[i]);
	return s;
}

static const char initramfs_tools_hook[] =
	"#!/bin/sh\n"
	"# Written by 'devpass persist --ids': puts vfio-pci and its options into the\n"
	"# initramfs so it claims the devices before a host driver there can.\n"
	"PREREQ=\"\"\n"
	"prereqs() { echo \"$PREREQ\"; }\n"
	"case \"$1\" in prereqs) prereqs; exit 0 ;; esac\n"
	". /usr/share/initramfs-tools/hook-functions\n"
	"manual_add_modules vfio vfio_iommu_type1 vfio_pci\n"
	"copy_file config " MODPROBE_CONF "\n"
	"force_load vfio_pci\n";

static const char dracut_conf[] =
	"# Written by 'devpass persist --ids': vfio-pci and its options in the initramfs.\n"
	"force_drivers+=\" vfio vfio_iommu_type1 vfio_pci \"\n"
	"install_items+=\" " MODPROBE_CONF " \"\n";

static const char mkinitcpio_conf[] =
	"# Written by 'devpass persist --ids': vfio-pci and its options in the initramfs\n"
	"# (the modconf hook copies /etc/modprobe.d).\n"
	"MODULES+=(vfio_pci vfio vfio_iommu_type1)\n"
	"FILES+=(" MODPROBE_CONF ")\n";

/* The initramfs generators found under the root, with the files and rebuild commands. */
static int initramfs_stage(struct dp_changeset *cs, bool remove)
{
	int r = 0;
	bool any = false;
	if (dp_fs_exists("/etc/initramfs-tools")) {
		r = remove ? 0 : dp_changeset_put(cs, INITRAMFS_TOOLS_HOOK, initramfs_tools_hook, 0755);
		dp_changeset_command(cs, "update-initramfs -u -k all");
		any = true;
	}
	if (r == 0 && (dp_fs_exists("/etc/dracut.conf.d") || dp_fs_exists("/etc/dracut.conf"))) {
		r = remove ? 0 : dp_changeset_put(cs, DRACUT_CONF, dracut_conf, 0644);
		dp_changeset_command(cs, "dracut --regenerate-all --force");
		any = true;
	}
	if (r == 0 && dp_fs_exists("/etc/mkinitcpio.conf")) {
		r = remove ? 0 : dp_changeset_put(cs, MKINITCPIO_CONF, mkinitcpio_conf, 0644);
		dp_changeset_command(cs, "mkinitcpio -P");
		any = true;
	}
	if (!any && !remove)
		dp_strv_add(&cs->notes, "no initramfs generator found (initramfs-tools, dracut, "
		            "mkinitcpio): vfio-pci loads from the root filesystem, after any host driver "
		            "an initramfs might carry");
	return r;
}

/* Every other device the ids catch: loudly; a host-critical one is refused. */
static int ids_overlap_check(const struct dp_pci_list *list, const struct dp_strv *ids,
                             const struct dp_strv *targets, bool force, struct dp_changeset *cs)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *d = &list->dev[i];
		if (dp_strv_contains(targets, d->address))
			continue;
		for (size_t k = 0; k < ids->n; k++) {
			if (!id_matches(ids->v[k], d))
				continue;
			if (d->critical.n && !force)
				return dp_error_set_remedy(-EPERM, DP_REMEDY_FORCE, d->address, "vfio-pci ids=%s "
				                           "would also take %s, which the host needs (%s): persist "
				                           "the device by address instead", ids->v[k], d->address,
				                           d->critical.v[0]);
			dp_strv_addf(&cs->warnings, "ids=%s also matches %s (%s, now on %s): vfio-pci will take "
			             "it at boot too%s", ids->v[k], d->address, d->description ? d->description : "?",
			             *d->driver ? d->driver : "no driver", d->critical.n ? " — the host needs it!" : "");
		}
	}
	return 0;
}

int dp_persist_ids_plan(const struct dp_pci_list *list, char *const *addrs, size_t n, bool force,
                        struct dp_changeset *cs)
{
	struct dp_strv ids = {0}, mods = {0}, targets = {0};
	struct dp_group_list groups = {0};
	char *old = NULL;
	dp_changeset_init(cs, FEATURE);
	if (dp_fs_read_all(MODPROBE_CONF, &old, NULL) == 0)
		ids_parse(old, &ids), softdeps_parse(old, &mods);   /* a second call adds to the first */
	free(old);
	int r = dp_groups_build(list, &groups);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct dp_pci_device *dev;
		if ((r = dp_pci_device_lookup(list, addrs[i], &dev)) < 0)
			break;
		const struct dp_iommu_group *g = dp_groups_find(&groups, dev->iommu_group);
		if (!g)   /* the IOMMU is off: ids need no group, but nobody knows the group yet */
			dp_strv_addf(&cs->notes, "%s has no IOMMU group now (the IOMMU is off): once it is "
			             "on, every other device of its group must go to vfio-pci too (the "
			             "groups list shows them)", dev->address);
		for (size_t k = 0; k < (g ? g->n : 1); k++) {
			const struct dp_pci_device *m = g ? &list->dev[g->members[k]] : dev;
			if (dp_pci_device_is_bridge(m) || dp_strv_contains(&targets, m->address))
				continue;
			if (m->critical.n && !force) {
				r = dp_error_set_remedy(-EPERM, DP_REMEDY_FORCE, m->address, "%s is needed by the "
				                        "host (%s): not giving its ids to vfio-pci", m->address,
				                        m->critical.v[0]);
				break;
			}
			dp_strv_add(&targets, m->address);
			char id[16];
			snprintf(id, sizeof(id), "%04x:%04x", m->vendor, m->device);
			if (!dp_strv_contains(&ids, id))
				dp_strv_add(&ids, id);
			host_modules(m, &mods);
		}
	}
	if (r == 0) {
		struct dp_strv ours = {0};
		for (size_t i = 0; i < ids.n; i++)
			dp_strv_add(&ours, ids.v[i]);
		r = foreign_ids_merge(&ids, &ours, cs);
		dp_strv_free(&ours);
	}
	if (r == 0)
		r = ids_overlap_check(list, &ids, &targets, force, cs);
	if (r == 0) {
		char *text = modprobe_text(&ids, &mods);
		r = dp_changeset_put(cs, MODPROBE_CONF, text, 0644);
		free(text);
	}
	if (r == 0)
		r = initramfs_stage(cs, false);
	if (r == 0 && !dp_changeset_empty(cs))
		dp_strv_add(&cs->notes, "the ids take effect at the next boot (after the initramfs is rebuilt)");
	dp_strv_free(&ids);
	dp_strv_free(&mods);
	dp_strv_free(&targets);
	dp_groups_free(&groups);
	return r;
}

int dp_persist_ids_remove_plan(struct dp_changeset *cs)
{
	dp_changeset_init(cs, FEATURE);
	int r = dp_journal_undo_plan(cs);
	if (r == 0 && cs->n)
		r = initramfs_stage(cs, true);
	return r;
}
