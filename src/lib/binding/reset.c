/* Function reset through the kernel's `reset` attribute, which honours `reset_method`
 * (flr, pm, bus, device_specific...). Refused while the device is in use or held by a
 * host driver: resetting a function under a live driver corrupts its state. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "binding/binding.h"
#include "fs/sysroot.h"
#include "util/error.h"

int dp_reset_methods(const struct dp_pci_device *dev, char *methods, size_t size)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/reset_method", dev->sysfs_path);
	if (dp_fs_read_line(path, methods, size) >= 0)
		return 0;
	methods[0] = '\0';
	snprintf(path, sizeof(path), "%s/reset", dev->sysfs_path);
	/* kernels before 5.15 have `reset` without `reset_method` */
	return dp_fs_exists(path) ? 0 : -ENOENT;
}

/* Another function on the same bus: a bus reset would hit it too, so the kernel offers
 * none for this function alone; only vfio's hot reset, with the whole bus (or slot) in one
 * user's hands, can do it. */
bool dp_reset_bus_shared(const struct dp_pci_list *list, const struct dp_pci_device *dev)
{
	size_t bus_len = strlen("0000:00:");
	for (size_t i = 0; i < list->n; i++)
		if (&list->dev[i] != dev && strncmp(list->dev[i].address, dev->address, bus_len) == 0)
			return true;
	return false;
}

/* Why a reset would hurt: a process using it, the host needing it, a host driver on it. */
static const char *reset_hazard(const struct dp_pci_device *dev, const struct dp_strv *users,
                                const char *driver, const char **lead)
{
	*lead = users->n ? "it is in use: " : dev->critical.n ? "it " : "it is driven by ";
	return users->n ? users->v[0]
	     : dev->critical.n ? dev->critical.v[0]
	     : (*driver && strcmp(driver, "vfio-pci") != 0) ? driver : NULL;
}

/* The in-use reason comes first: it is what the user must act on, whatever the kernel
 * offers. */
int dp_reset_check(const struct dp_pci_device *dev, bool force, bool bus_shared,
                   struct dp_strv *warnings)
{
	char driver[64] = "", methods[128];
	dp_device_driver(dev->address, driver, sizeof(driver));
	_cleanup_(dp_strv_freep) struct dp_strv users = {0};
	int n = dp_device_users(dev, &users);
	if (n < 0)
		return n;   /* who holds it is unknown: not "nobody" */
	const char *lead;
	const char *why = reset_hazard(dev, &users, driver, &lead);
	int r = 0;
	if (why && !force)
		r = dp_error_set_remedy(-EBUSY, DP_REMEDY_FORCE, dev->address, "refusing to reset %s: "
		                        "%s%s; unbind it or bind it to vfio-pci first", dev->address,
		                        lead, why);
	else if (why && dp_strv_addf(warnings, "WARNING: resetting %s although %s%s", dev->address,
	                             lead, why) < 0)
		return dp_oom();
	if (r == 0 && dp_reset_methods(dev, methods, sizeof(methods)) < 0)
		r = dp_error_set(-ENOTSUP, "%s cannot be reset: the kernel offers no reset method for "
		                 "it%s", dev->address, bus_shared ? " (it shares its bus with other "
		                 "functions: only a vfio hot reset of the whole bus, through the parent "
		                 "bridge or slot, resets it)" : "");
	return r;
}

int dp_reset_apply(const struct dp_pci_device *dev, int timeout_ms)
{
	char path[PATH_MAX];
	_cleanup_(dp_strv_freep) struct dp_strv names = {0};
	struct dp_group_locks locks = {0};
	int r = dp_fs_require_kernel();   /* before the lock file: nothing made on a plain tree */
	if (r < 0 || (r = dp_lock_name_add(&names, dev->iommu_group, dev->address)) < 0)
		return r;
	if ((r = dp_locks_take(&names, &locks)) < 0)   /* no bind may move it meanwhile */
		return r;
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/reset", dev->address);
	r = dp_fs_write(path, "1", timeout_ms);
	dp_group_locks_release(&locks);
	if (r < 0)
		return dp_error_set(r, "%s: reset failed: %s%s", dev->address, strerror(-r),
		                    r == -ENOTTY ? " (no reset method worked)" : "");
	return 0;
}
