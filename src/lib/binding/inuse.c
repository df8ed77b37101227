/* Who holds a device: processes with its /dev/vfio/N open (a VM using it), and for GPUs
 * the holders of its DRM nodes and of the NVIDIA nodes (nvidia-persistenced, a
 * compositor), which make an unbind hang until they let go. /proc is read once per
 * command: every open device node of interest, with its process. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binding/binding.h"
#include "fs/sysroot.h"

static struct dp_strv holders;   /* "TARGET\tpid N (comm)" */
static bool holders_read;

/* The device-node part of an fd's path. A process in a chroot or another mount
 * namespace (a VM started from a container) shows its /dev under a longer path, such as
 * /srv/root/dev/vfio/16, so the node is found wherever it starts. */
static const char *node_of_interest(const char *target)
{
	static const char *const prefixes[] = {"/dev/vfio/", "/dev/dri/", "/dev/nvidia"};
	for (size_t i = 0; i < 3; i++) {
		const char *at = strstr(target, prefixes[i]);
		if (at)
			return at;
	}
	return NULL;
}

static int process_scan(const char *pid)
{
	char dir[64], path[128], target[PATH_MAX], comm[64] = "?";
	snprintf(dir, sizeof(dir), "proc/%s/fd", pid);
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	struct dirent *de;
	bool named = false;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		const char *node;
		if (dp_fs_readlink(path, target, sizeof(target)) < 0 || !(node = node_of_interest(target)))
			continue;
		if (!named) {
			snprintf(path, sizeof(path), "proc/%s/comm", pid);
			dp_fs_read_line(path, comm, sizeof(comm));
			named = true;
		}
		if (dp_strv_addf(&holders, "%s\tpid %s (%s) holds %s", node, pid, comm, target) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* A scan that ran out of memory is not kept: the next caller scans again. */
static int holders_scan(void)
{
	if (holders_read)
		return 0;
	_cleanup_closedir_ DIR *d = dp_fs_opendir("proc");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (isdigit((unsigned char)de->d_name[0]) && process_scan(de->d_name) < 0) {
			dp_strv_free(&holders);
			return dp_oom();
		}
	holders_read = true;
	return 0;
}

void dp_device_users_forget(void)
{
	dp_strv_free(&holders);
	holders_read = false;
}

/* DRM nodes of this GPU: sys/class/drm/{cardN,renderDN} whose device is this function */
static int drm_nodes(const struct dp_pci_device *dev, struct dp_strv *nodes)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir("sys/class/drm");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "card", 4) != 0 && strncmp(de->d_name, "renderD", 7) != 0)
			continue;
		if (strchr(de->d_name, '-'))   /* connectors: card0-HDMI-A-1 */
			continue;
		char path[PATH_MAX], name[DP_ADDR_LEN];
		snprintf(path, sizeof(path), "sys/class/drm/%s/device", de->d_name);
		if (dp_fs_readlink_name(path, name, sizeof(name)) == 0 && strcmp(name, dev->address) == 0 &&
		    dp_strv_addf(nodes, "/dev/dri/%s", de->d_name) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* -ENOMEM: who holds it is unknown, which must not read as nobody. */
int dp_device_users(const struct dp_pci_device *dev, struct dp_strv *users)
{
	_cleanup_(dp_strv_freep) struct dp_strv nodes = {0};
	if (dev->iommu_group >= 0 && dp_strv_addf(&nodes, "/dev/vfio/%d", dev->iommu_group) < 0)
		return dp_oom();
	bool gpu = dp_pci_device_base_class(dev) == 0x03;
	if (gpu && drm_nodes(dev, &nodes) < 0)
		return dp_oom();
	bool nvidia = gpu && dev->vendor == 0x10de && strcmp(dev->driver, "nvidia") == 0;
	int r = holders_scan();
	if (r < 0)
		return r;
	for (size_t i = 0; i < holders.n; i++) {
		char *tab = strchr(holders.v[i], '\t');
		char target[PATH_MAX];
		snprintf(target, sizeof(target), "%.*s", (int)(tab - holders.v[i]), holders.v[i]);
		if ((dp_strv_contains(&nodes, target) || (nvidia && strncmp(target, "/dev/nvidia", 11) == 0)) &&
		    dp_strv_add(users, tab + 1) < 0)
			return dp_oom();
	}
	return (int)users->n;
}
