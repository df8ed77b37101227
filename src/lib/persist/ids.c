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
static int softdeps_parse(const char *text, struct dp_strv *mods)
{
	for (const char *line = text; line && *line;) {
		char mod[64];
		if (sscanf(line, "softdep %63s pre: vfio-pci", mod) == 1 && !dp_strv_contains(mods, mod) &&
		    dp_strv_add(mods, mod) < 0)
			return dp_oom();
		line = dp_text_next_line(line);
	}
	return 0;
}

/* "options vfio-pci ids=a:b,c:d" lines of one modprobe.d file */
static int ids_parse(const char *text, struct dp_strv *ids)
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
						if (!dp_strv_contains(ids, id) && dp_strv_add(ids, id) < 0)
							return dp_oom();
		line = *eol ? eol + 1 : eol;
	}
	return 0;
}

int dp_vfio_ids_configured(struct dp_strv *ids, struct dp_strv *where)
{
	_cleanup_(dp_strv_freep) struct dp_strv files = {0};
	dp_fs_list("/etc/modprobe.d", ".conf", &files);
	for (size_t f = 0; f < files.n; f++) {
		const char *path = files.v[f];
		_cleanup_free_ char *text = NULL;
		size_t before = ids->n;
		if (dp_fs_read_all(path, &text, NULL) == 0 && ids_parse(text, ids) < 0)
			return -ENOMEM;
		for (size_t i = before; i < ids->n; i++)
			if (dp_strv_add(where, path) < 0)
				return dp_oom();
	}
	char cmdline[4096] = "";
	dp_fs_read_line("/proc/cmdline", cmdline, sizeof(cmdline));
	for (char *save = NULL, *arg = strtok_r(cmdline, " ", &save); arg; arg = strtok_r(NULL, " ", &save))
		if (strncmp(arg, "vfio-pci.ids=", 13) == 0 || strncmp(arg, "vfio_pci.ids=", 13) == 0)
			for (char *s2 = NULL, *id = strtok_r(arg + 13, ",", &s2); id; id = strtok_r(NULL, ",", &s2)) {
				if (dp_strv_contains(ids, id))
					continue;
				if (dp_strv_add(ids, id) < 0 || dp_strv_add(where, "the kernel command line") < 0)
					return dp_oom();
			}
	return 0;
}

/* ---- vfio-pci configuration other tools made ---------------------------------------- */

static int foreign_add(struct dp_foreign_list *out, const char *source, const char *kind,
                       const char *key, const char *driver)
{
	if (dp_array_grow(&out->f, out->n, 1, sizeof(*out->f)) < 0)
		return dp_oom();
	struct dp_foreign_config *f = &out->f[out->n++];   /* counted at once: freed with out */
	*f = (struct dp_foreign_config){.source = strdup(source), .kind = strdup(kind),
	                                .key = strdup(key), .driver = strdup(driver)};
	return f->source && f->kind && f->key && f->driver ? 0 : dp_oom();
}

static const char *file_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int foreign_ids_read(struct dp_foreign_list *out)
{
	_cleanup_(dp_strv_freep) struct dp_strv files = {0};
	dp_fs_list("/etc/modprobe.d", ".conf", &files);
	for (size_t f = 0; f < files.n; f++) {
		_cleanup_free_ char *text = NULL;
		_cleanup_(dp_strv_freep) struct dp_strv ids = {0};
		if (strcmp(file_name(files.v[f]), "devpass-vfio.conf") != 0 &&
		    dp_fs_read_all(files.v[f], &text, NULL) == 0 && ids_parse(text, &ids) < 0)
			return -ENOMEM;
		if (!ids.n)
			continue;
		_cleanup_free_ char *all = dp_strv_join(&ids, ",");
		int r = all ? foreign_add(out, files.v[f], "ids", all, "vfio-pci") : dp_oom();
		if (r < 0)
			return r;
	}
	return 0;
}

/* driverctl keeps one file per overridden device, pci-ADDRESS, holding the driver. */
static int driverctl_read(struct dp_foreign_list *out)
{
	_cleanup_(dp_strv_freep) struct dp_strv files = {0};
	dp_fs_list("/etc/driverctl.d", "", &files);
	for (size_t f = 0; f < files.n; f++) {
		const char *name = file_name(files.v[f]);
		char driver[64];
		if (strncmp(name, "pci-", 4) == 0 && dp_fs_read_line(files.v[f], driver, sizeof(driver)) > 0 &&
		    foreign_add(out, files.v[f], "driverctl", name + 4, driver) < 0)
			return -ENOMEM;
	}
	return 0;
}

int dp_foreign_config_read(struct dp_foreign_list *out)
{
	memset(out, 0, sizeof(*out));
	int r = foreign_ids_read(out);
	return r < 0 ? r : driverctl_read(out);
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
/* One foreign ids= line f against ours: refused when read after devpass's file and
 * missing one of ours; read before it, its ids join ours (with a warning). */
static int foreign_line_merge(const struct dp_foreign_config *f, struct dp_strv *ids,
                              const struct dp_strv *ours, struct dp_changeset *cs)
{
	_cleanup_(dp_strv_freep) struct dp_strv theirs = {0};
	char line[1100];
	snprintf(line, sizeof(line), "options vfio-pci ids=%s\n", f->key);
	if (ids_parse(line, &theirs) < 0)
		return -ENOMEM;
	bool after = strcmp(file_name(f->source), "devpass-vfio.conf") > 0;
	const char *missing = NULL;
	for (size_t k = 0; k < ours->n && !missing; k++)
		if (!dp_strv_contains(&theirs, ours->v[k]))
			missing = ours->v[k];
	if (after && missing)
		return dp_error_set(-EEXIST, "%s sets 'options vfio-pci ids=%s' and is read after "
		                 "devpass-vfio.conf: modprobe passes both ids= to vfio-pci and the last "
		                 "one wins, so %s would be dropped; add %s to that line yourself, or "
		                 "remove the line", f->source, f->key, missing, missing);
	for (size_t k = 0; !after && k < theirs.n; k++)
		if (!dp_strv_contains(ids, theirs.v[k])) {
			if (dp_strv_add(ids, theirs.v[k]) < 0)
				return dp_oom();
			if (dp_strv_addf(&cs->warnings, "kept vfio-pci ids=%s of %s: modprobe gives vfio-pci "
			             "the last ids= line (devpass's), so it must carry them too",
			             theirs.v[k], f->source) < 0)
				return dp_oom();
		}
	return 0;
}

/* modprobe passes the options of every line for a module together ("ids=A ids=B"), in
 * the order it reads the files (by file name), and vfio-pci keeps the last ids= it is
 * given. A foreign line read before devpass's file is merged into it (so the last line
 * carries both); one read after it would drop devpass's ids, so it is refused unless it
 * holds them all already. */
static int foreign_ids_merge(struct dp_strv *ids, const struct dp_strv *ours, struct dp_changeset *cs)
{
	_cleanup_(dp_foreign_list_freep) struct dp_foreign_list foreign = {0};
	int r = dp_foreign_config_read(&foreign);
	if (r == -ENOMEM)
		return r;
	for (size_t i = 0; i < foreign.n; i++)
		if (strcmp(foreign.f[i].kind, "ids") == 0 &&
		    (r = foreign_line_merge(&foreign.f[i], ids, ours, cs)) < 0)
			return r;
	return 0;
}

static bool id_matches(const char *id, const struct dp_pci_device *dev)
{
	unsigned v, d;
	return sscanf(id, "%4x:%4x", &v, &d) == 2 && v == dev->vendor && d == dev->device;
}

/* The host drivers that could take these devices: the bound one and every module whose
 * alias matches (nouveau and nvidia, say), as modprobe would find them. */
static int host_modules(const struct dp_pci_device *dev, struct dp_strv *mods)
{
	struct dp_pci_details d;
	int r = dp_pci_details_read(dev, &d);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < d.modules.n; i++)
		if (strcmp(d.modules.v[i], "vfio_pci") != 0 && !dp_strv_contains(mods, d.modules.v[i]))
			r = dp_strv_add(mods, d.modules.v[i]);
	dp_pci_details_free(&d);
	if (r < 0)
		return dp_oom();
	char path[128], module[64];
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/module", dev->driver);
	if (*dev->driver && strcmp(dev->driver, "vfio-pci") != 0 &&
	    dp_fs_readlink_name(path, module, sizeof(module)) == 0 && !dp_strv_contains(mods, module) &&
	    dp_strv_add(mods, module) < 0)
		return dp_oom();
	return 0;
}

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *modprobe_text(struct dp_strv *ids, struct dp_strv *mods)
{
	qsort(ids->v, ids->n, sizeof(*ids->v), strv_cmp);
	qsort(mods->v, mods->n, sizeof(*mods->v), strv_cmp);
	char *s = dp_text_printf("%s", "# Written by 'devpass persist --ids'; 'devpass persist --remove --ids' removes it.\n"
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
/* One generator: its file (unless removing) and its rebuild command. */
static int initramfs_generator_stage(struct dp_changeset *cs, bool remove, const char *path,
                                     const char *text, unsigned mode, const char *command)
{
	int r = remove ? 0 : dp_changeset_put(cs, path, text, mode);
	int c = dp_changeset_command(cs, command);   /* staged even after a failure, as before */
	return r < 0 ? r : c;
}

static int initramfs_stage(struct dp_changeset *cs, bool remove)
{
	int r;
	bool any = false;
	if (dp_fs_exists("/etc/initramfs-tools")) {
		if ((r = initramfs_generator_stage(cs, remove, INITRAMFS_TOOLS_HOOK, initramfs_tools_hook,
		                                   0755, "update-initramfs -u -k all")) < 0)
			return r;
		any = true;
	}
	if (dp_fs_exists("/etc/dracut.conf.d") || dp_fs_exists("/etc/dracut.conf")) {
		if ((r = initramfs_generator_stage(cs, remove, DRACUT_CONF, dracut_conf, 0644,
		                                   "dracut --regenerate-all --force")) < 0)
			return r;
		any = true;
	}
	if (dp_fs_exists("/etc/mkinitcpio.conf")) {
		if ((r = initramfs_generator_stage(cs, remove, MKINITCPIO_CONF, mkinitcpio_conf, 0644,
		                                   "mkinitcpio -P")) < 0)
			return r;
		any = true;
	}
	if (!any && !remove &&
	    dp_strv_add(&cs->notes, "no initramfs generator found (initramfs-tools, dracut, "
	                "mkinitcpio): vfio-pci loads from the root filesystem, after any host driver "
	                "an initramfs might carry") < 0)
		return dp_oom();
	return 0;
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
			if (dp_strv_addf(&cs->warnings, "ids=%s also matches %s (%s, now on %s): vfio-pci will take "
			             "it at boot too%s", ids->v[k], d->address, d->description ? d->description : "?",
			             *d->driver ? d->driver : "no driver", d->critical.n ? " — the host needs it!" : "") < 0)
				return dp_oom();
		}
	}
	return 0;
}

/* The ids of dev's IOMMU group (dev alone without one) join ids, their host drivers mods. */
static int group_ids_collect(const struct dp_pci_list *list, const struct dp_group_list *groups,
                             const struct dp_pci_device *dev, bool force, struct dp_strv *ids,
                             struct dp_strv *mods, struct dp_strv *targets, struct dp_changeset *cs)
{
	const struct dp_iommu_group *g = dp_groups_find(groups, dev->iommu_group);
	int r;
	if (!g &&   /* the IOMMU is off: ids need no group, but nobody knows the group yet */
	    dp_strv_addf(&cs->notes, "%s has no IOMMU group now (the IOMMU is off): once it is "
	                 "on, every other device of its group must go to vfio-pci too (the "
	                 "groups list shows them)", dev->address) < 0)
		return dp_oom();
	for (size_t k = 0; k < (g ? g->n : 1); k++) {
		const struct dp_pci_device *m = g ? &list->dev[g->members[k]] : dev;
		if (dp_pci_device_is_bridge(m) || dp_strv_contains(targets, m->address))
			continue;
		if (m->critical.n && !force)
			return dp_error_set_remedy(-EPERM, DP_REMEDY_FORCE, m->address, "%s is needed by the "
			                        "host (%s): not giving its ids to vfio-pci", m->address,
			                        m->critical.v[0]);
		if (dp_strv_add(targets, m->address) < 0)
			return dp_oom();
		char id[16];
		snprintf(id, sizeof(id), "%04x:%04x", m->vendor, m->device);
		if (!dp_strv_contains(ids, id) && dp_strv_add(ids, id) < 0)
			return dp_oom();
		if ((r = host_modules(m, mods)) < 0)
			return r;
	}
	return 0;
}

int dp_persist_ids_plan(const struct dp_pci_list *list, char *const *addrs, size_t n, bool force,
                        struct dp_changeset *cs)
{
	_cleanup_(dp_strv_freep) struct dp_strv ids = {0}, mods = {0}, targets = {0}, ours = {0};
	_cleanup_(dp_groups_freep) struct dp_group_list groups = {0};
	_cleanup_free_ char *old = NULL;
	dp_changeset_init(cs, FEATURE);
	int r = 0;
	if (dp_fs_read_all(MODPROBE_CONF, &old, NULL) == 0 &&   /* a second call adds to the first */
	    ((r = ids_parse(old, &ids)) < 0 || (r = softdeps_parse(old, &mods)) < 0))
		return r;
	if ((r = dp_groups_build(list, &groups)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct dp_pci_device *dev;
		if ((r = dp_pci_device_lookup(list, addrs[i], &dev)) < 0 ||
		    (r = group_ids_collect(list, &groups, dev, force, &ids, &mods, &targets, cs)) < 0)
			return r;
	}
	for (size_t i = 0; i < ids.n; i++)
		if (dp_strv_add(&ours, ids.v[i]) < 0)
			return dp_oom();
	if ((r = foreign_ids_merge(&ids, &ours, cs)) < 0 ||
	    (r = ids_overlap_check(list, &ids, &targets, force, cs)) < 0)
		return r;
	_cleanup_free_ char *text = modprobe_text(&ids, &mods);   /* NULL: put says out of memory */
	if ((r = dp_changeset_put(cs, MODPROBE_CONF, text, 0644)) < 0 ||
	    (r = initramfs_stage(cs, false)) < 0)
		return r;
	if (!dp_changeset_empty(cs) &&
	    dp_strv_add(&cs->notes, "the ids take effect at the next boot (after the initramfs is rebuilt)") < 0)
		return dp_oom();
	return 0;
}

int dp_persist_ids_remove_plan(struct dp_changeset *cs)
{
	dp_changeset_init(cs, FEATURE);
	int r = dp_journal_undo_plan(cs);
	if (r == 0 && cs->n)
		r = initramfs_stage(cs, true);
	return r;
}
