/* USB devices the host needs: a usb-storage/uas disk that backs a mount or swap (asked
 * of the kernel the same way as for PCI storage, by the inventory's detection), and the
 * only keyboard (a local console would lose its input). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/sysroot.h"
#include "inventory/critical.h"
#include "usb/usb.h"
#include "alloc-util.h"

struct marking {
	struct crit_disk_probe *probe;   /* made for the first storage interface */
	struct dp_strv keyboards;        /* sysfs directories of the host's keyboards */
};

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The entries of dir that start with prefix, as "dir/entry" */
static int entries(const char *dir, const char *prefix, struct dp_strv *out)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && starts_with(de->d_name, prefix) &&
		    dp_strv_addf(out, "%s/%s", dir, de->d_name) < 0)
			return -ENOMEM;
	return 0;
}

/* The disks of a storage interface: IF/host*\/target*\/H:C:T:L/block/sdX */
static int interface_disks(const char *ifdir, struct dp_strv *disks)
{
	_cleanup_(dp_strv_freep) struct dp_strv hosts = {0}, targets = {0}, luns = {0};
	int r = entries(ifdir, "host", &hosts);
	for (size_t i = 0; r == 0 && i < hosts.n; i++)
		r = entries(hosts.v[i], "target", &targets);
	for (size_t i = 0; r == 0 && i < targets.n; i++)
		r = entries(targets.v[i], "", &luns);
	for (size_t i = 0; r == 0 && i < luns.n; i++) {
		char block[PATH_MAX];
		snprintf(block, sizeof(block), "%s/block", luns.v[i]);
		_cleanup_closedir_ DIR *d = dp_fs_opendir(block);
		struct dirent *de;
		while (r == 0 && d && (de = readdir(d)))
			if (de->d_name[0] != '.')
				r = dp_strv_add(disks, de->d_name);
	}
	return r;
}

static bool is_storage(const struct dp_usb_interface *it)
{
	return strcmp(it->driver, "usb-storage") == 0 || strcmp(it->driver, "uas") == 0;
}

static int storage_reasons(struct marking *m, const struct dp_usb_device *d, const char *sysdir,
                           struct dp_strv *reasons)
{
	for (size_t i = 0; i < d->nifs; i++) {
		if (!is_storage(&d->ifs[i]))
			continue;
		char ifdir[PATH_MAX];
		snprintf(ifdir, sizeof(ifdir), "%s/%s", sysdir, d->ifs[i].name);
		_cleanup_(dp_strv_freep) struct dp_strv disks = {0}, uses = {0};
		int r = interface_disks(ifdir, &disks);
		if (r == 0 && disks.n && !m->probe)
			r = crit_disk_probe_new(&m->probe);
		for (size_t k = 0; r == 0 && k < disks.n; k++)
			r = crit_disk_probe_uses(m->probe, disks.v[k], &uses);
		for (size_t k = 0; r == 0 && k < uses.n; k++)
			r = dp_strv_addf(reasons, "backs %s", uses.v[k]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- keyboards --------------------------------------------------------------------- */

/* Every input device of the host with a keyboard's keys, by its sysfs directory: a
 * PS/2 or virtual keyboard is a console's keyboard as much as a USB one. */
static int keyboards_read(struct dp_strv *out)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir("sys/class/input");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[PATH_MAX], bitmap[512], resolved[PATH_MAX];
		if (!starts_with(de->d_name, "input") || !dp_fs_path_is_safe(de->d_name))
			continue;
		snprintf(path, sizeof(path), "sys/class/input/%s/capabilities/key", de->d_name);
		if (dp_fs_read_line(path, bitmap, sizeof(bitmap)) <= 0 || !usb_key_bitmap_is_keyboard(bitmap))
			continue;
		snprintf(path, sizeof(path), "sys/class/input/%s", de->d_name);
		if (dp_fs_resolve(path, resolved, sizeof(resolved)) == 0 && dp_strv_add(out, resolved) < 0)
			return -ENOMEM;
	}
	return 0;
}

static bool is_boot_keyboard(const struct dp_usb_device *d)
{
	for (size_t i = 0; i < d->nifs; i++)
		if (d->ifs[i].cls == 0x03 && d->ifs[i].subclass == 0x01 && d->ifs[i].protocol == 0x01)
			return true;
	return false;
}

static bool below(const char *path, const char *dir)
{
	size_t len = strlen(dir);
	return strncmp(path, dir, len) == 0 && path[len] == '/';
}

/* A boot keyboard with no other keyboard on the host: no other USB boot keyboard and
 * no keyboard input device outside this one. */
static bool only_keyboard(const struct marking *m, const struct dp_usb_list *list, size_t self,
                          char *const *sysdirs)
{
	if (!is_boot_keyboard(&list->d[self]))
		return false;
	for (size_t i = 0; i < list->n; i++)
		if (i != self && is_boot_keyboard(&list->d[i]))
			return false;
	for (size_t k = 0; k < m->keyboards.n; k++)
		if (!below(m->keyboards.v[k], sysdirs[self]))
			return false;
	return true;
}

static int reasons_set(struct dp_usb_device *d, const struct dp_strv *reasons)
{
	if (!reasons->n)
		return 0;
	if (!(d->critical_reason = dp_strv_join(reasons, "; ")))
		return -ENOMEM;
	d->critical = true;
	return 0;
}

int usb_critical_mark(struct dp_usb_list *list, char *const *sysdirs)
{
	struct marking m = {0};
	int r = keyboards_read(&m.keyboards);
	for (size_t i = 0; r == 0 && i < list->n; i++) {
		_cleanup_(dp_strv_freep) struct dp_strv reasons = {0};
		r = storage_reasons(&m, &list->d[i], sysdirs[i], &reasons);
		if (r == 0 && only_keyboard(&m, list, i, sysdirs))
			r = dp_strv_add(&reasons, "is the only keyboard (a local console needs it)");
		if (r == 0)
			r = reasons_set(&list->d[i], &reasons);
	}
	crit_disk_probe_free(m.probe);
	dp_strv_free(&m.keyboards);
	if (r == -ENOMEM)
		return dp_error_set(r, "cannot tell which USB devices the host needs: out of memory");
	return r;   /* other failures have their message set */
}
