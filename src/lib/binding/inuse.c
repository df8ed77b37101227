/* Who holds a device: processes with its /dev/vfio/N open (a VM using it), and for GPUs
 * the holders of its DRM nodes and of the NVIDIA nodes (nvidia-persistenced, a
 * compositor), which make an unbind hang until they let go. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binding/binding.h"
#include "fs/sysroot.h"

/* DRM nodes of this GPU: sys/class/drm/{cardN,renderDN} whose device is this function */
static void drm_nodes(const struct dp_pci_device *dev, struct dp_strv *nodes)
{
	DIR *d = dp_fs_opendir("sys/class/drm");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "card", 4) != 0 && strncmp(de->d_name, "renderD", 7) != 0)
			continue;
		if (strchr(de->d_name, '-'))   /* connectors: card0-HDMI-A-1 */
			continue;
		char path[PATH_MAX], name[DP_ADDR_LEN];
		snprintf(path, sizeof(path), "sys/class/drm/%s/device", de->d_name);
		if (dp_fs_readlink_name(path, name, sizeof(name)) == 0 && strcmp(name, dev->address) == 0)
			dp_strv_addf(nodes, "/dev/dri/%s", de->d_name);
	}
	if (d)
		closedir(d);
}

static bool target_matches(const char *target, const struct dp_strv *nodes, bool nvidia)
{
	if (dp_strv_contains(nodes, target))
		return true;
	return nvidia && strncmp(target, "/dev/nvidia", 11) == 0;
}

static void process_scan(const char *pid, const struct dp_strv *nodes, bool nvidia,
                         struct dp_strv *users)
{
	char dir[64], path[128], target[PATH_MAX], comm[64] = "?";
	snprintf(dir, sizeof(dir), "proc/%s/fd", pid);
	DIR *d = dp_fs_opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (dp_fs_readlink(path, target, sizeof(target)) < 0 || !target_matches(target, nodes, nvidia))
			continue;
		snprintf(path, sizeof(path), "proc/%s/comm", pid);
		dp_fs_read_line(path, comm, sizeof(comm));
		dp_strv_addf(users, "pid %s (%s) holds %s", pid, comm, target);
		break;
	}
	if (d)
		closedir(d);
}

int dp_device_users(const struct dp_pci_device *dev, struct dp_strv *users)
{
	struct dp_strv nodes = {0};
	if (dev->iommu_group >= 0)
		dp_strv_addf(&nodes, "/dev/vfio/%d", dev->iommu_group);
	bool gpu = dp_pci_device_base_class(dev) == 0x03;
	if (gpu)
		drm_nodes(dev, &nodes);
	bool nvidia = gpu && dev->vendor == 0x10de && strcmp(dev->driver, "nvidia") == 0;
	DIR *d = dp_fs_opendir("proc");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (isdigit((unsigned char)de->d_name[0]))
			process_scan(de->d_name, &nodes, nvidia, users);
	if (d)
		closedir(d);
	dp_strv_free(&nodes);
	return (int)users->n;
}
