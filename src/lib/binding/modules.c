/* Drivers for binding: vfio-pci (with vfio_iommu_type1) or the one --driver names. A
 * driver that is not registered is loaded with libkmod, on the host only: under --root
 * there is no kernel to load it into. */
#include <errno.h>
#include <libkmod.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "binding/binding.h"
#include "fs/sysroot.h"

DEFINE_CLEANUP_PTR(struct kmod_ctx, kmod_unref, kmod_unrefp)

static bool driver_registered(const char *driver)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "sys/bus/pci/drivers/%s", driver);
	return dp_fs_exists(path);
}

static int module_load(struct kmod_ctx *ctx, const char *name)
{
	struct kmod_list *list = NULL, *it;
	int r = kmod_module_new_from_lookup(ctx, name, &list);
	if (r < 0 || !list)
		return dp_error_set(-ENOENT, "no kernel module provides '%s' (is the name right? "
		                    "see 'modinfo %s')", name, name);
	kmod_list_foreach(it, list) {
		struct kmod_module *mod = kmod_module_get_module(it);
		r = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, NULL, NULL, NULL, NULL);
		if (r < 0)
			dp_error_set(r, "cannot load module %s: %s%s", kmod_module_get_name(mod), strerror(-r),
			             r == -EPERM ? " (it is blacklisted or you are not root)" : "");
		kmod_module_unref(mod);
		if (r < 0)
			break;
	}
	kmod_module_unref_list(list);
	return r < 0 ? r : 0;
}

/* A module of that name (or alias) in the root's lib/modules/<release>, the way modprobe
 * would find it. */
static bool module_exists(const char *name)
{
	char release[128], rel[PATH_MAX], dir[PATH_MAX];
	if (dp_fs_read_line("proc/sys/kernel/osrelease", release, sizeof(release)) <= 0)
		return false;
	snprintf(rel, sizeof(rel), "lib/modules/%s", release);
	if (!dp_fs_exists(rel))
		snprintf(rel, sizeof(rel), "usr/lib/modules/%s", release);
	if (!dp_fs_exists(rel) || dp_fs_host_path(rel, dir, sizeof(dir)) < 0)
		return false;
	struct kmod_ctx *ctx = kmod_new(dir, NULL);
	if (!ctx)
		return false;
	kmod_set_log_priority(ctx, 0);
	struct kmod_list *list = NULL;
	bool found = kmod_module_new_from_lookup(ctx, name, &list) == 0 && list;
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	return found;
}

int dp_driver_known(const char *driver)
{
	if (driver_registered(driver) || module_exists(driver))
		return 0;
	return dp_error_set(-ENOENT, "no driver '%s': it is not registered (no sys/bus/pci/drivers/%s) "
	                    "and no kernel module of that name is installed (is the name right? "
	                    "'modinfo %s' tells)", driver, driver, driver);
}

int dp_driver_ensure(const char *driver)
{
	bool vfio = strcmp(driver, "vfio-pci") == 0;
	if (driver_registered(driver) && (!vfio || dp_fs_exists("sys/module/vfio_iommu_type1")))
		return 0;
	if (!dp_root_is_host()) {
		if (driver_registered(driver))
			return 0;
		return dp_error_set(-ENOENT, "driver %s is not registered under %s "
		                    "(no sys/bus/pci/drivers/%s) and modules cannot be loaded there",
		                    driver, dp_root_path(), driver);
	}
	_cleanup_(kmod_unrefp) struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	if (!ctx)
		return dp_error_set(-ENOMEM, "libkmod: cannot start");
	kmod_load_resources(ctx);
	int r = module_load(ctx, driver);
	if (r < 0 || (vfio && (r = module_load(ctx, "vfio_iommu_type1")) < 0))
		return r;
	if (!driver_registered(driver))
		return dp_error_set(-ENOENT, "module for %s loaded but no PCI driver %s appeared", driver, driver);
	return 0;
}
