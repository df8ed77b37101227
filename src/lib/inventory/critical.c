/* Host-critical detection: devices the host needs to keep running. A device is critical
 * when the kernel still uses storage below it (critical-block.c: mounts of any mount
 * namespace, swap, md/dm/bcache/loop/zram stacks, an exclusive open the kernel refuses),
 * when it carries a filesystem with no local disk (critical-fs.c: 9p and virtiofs by
 * their virtio device, network filesystems by the NIC that routes to their server), when
 * it carries a default route (critical-net.c), is the boot VGA device or drives a
 * framebuffer console, or is a host bridge or root port. Sharing an IOMMU group with
 * such an endpoint makes a device critical too, since vfio takes groups whole. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "devpass.h"
#include "fs/sysroot.h"
#include "inventory/critical.h"
#include "inventory/inventory.h"
#include "alloc-util.h"

#define CRIT_SHARED_PREFIX "shares IOMMU group"

bool crit_reason_inherited(const char *reason)
{
	return strncmp(reason, CRIT_SHARED_PREFIX, strlen(CRIT_SHARED_PREFIX)) == 0;
}

/* The last PCI function named in a resolved sysfs path: the device itself; the ones
 * before it are the bridges above it. */
bool crit_pci_in_path(const char *path, char out[DP_ADDR_LEN])
{
	bool found = false;
	char comp[NAME_MAX + 1];
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len > 0 && len < sizeof(comp)) {
			memcpy(comp, p, len);
			comp[len] = '\0';
			if (dp_pci_addr_is_valid_name(comp)) {
				snprintf(out, DP_ADDR_LEN, "%s", comp);
				found = true;
			}
		}
		p = end;
	}
	return found;
}

static __thread bool out_of_memory;

int crit_checked(int r)
{
	if (r == -ENOMEM)
		out_of_memory = true;
	return r;
}

void crit_out_of_memory(void)
{
	out_of_memory = true;
}

bool crit_out_of_memory_take(void)
{
	bool was = out_of_memory;
	out_of_memory = false;
	return was;
}

void crit_mark(struct dp_pci_list *list, const char *address, const char *reason)
{
	struct dp_pci_device *dev = dp_pci_list_find(list, address);
	if (dev && !dp_strv_contains(&dev->critical, reason))
		crit_checked(dp_strv_add(&dev->critical, reason));
}

bool crit_block_devnum(const char *name, unsigned *major, unsigned *minor)
{
	char path[PATH_MAX], buf[32];
	if (!*name || strchr(name, '/') || !dp_fs_path_is_safe(name))
		return false;
	snprintf(path, sizeof(path), "sys/class/block/%s/dev", name);
	return dp_fs_read_line(path, buf, sizeof(buf)) > 0 && sscanf(buf, "%u:%u", major, minor) == 2;
}

bool crit_block_name(unsigned major, unsigned minor, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "sys/dev/block/%u:%u", major, minor);
	return dp_fs_readlink_name(path, buf, size) == 0;
}

/* The node's device number when the root has real nodes, else the sysfs entry of its
 * name (a captured tree; /dev/mapper/NAME is then looked up among dm names). */
bool crit_block_by_path(const char *devpath, unsigned *major, unsigned *minor)
{
	struct stat st;
	if (dp_fs_stat(devpath, &st) == 0 && S_ISBLK(st.st_mode)) {
		*major = major(st.st_rdev);
		*minor = minor(st.st_rdev);
		return true;
	}
	const char *base = strrchr(devpath, '/');
	return base && crit_block_devnum(base + 1, major, minor);
}

/* ---- consoles ----------------------------------------------------------------- */

static void consoles_mark(struct dp_pci_list *list)
{
	char path[PATH_MAX], buf[16], resolved[PATH_MAX], addr[DP_ADDR_LEN];
	for (size_t i = 0; i < list->n; i++) {
		struct dp_pci_device *dev = &list->dev[i];
		if (dp_pci_device_base_class(dev) != 0x03)
			continue;
		snprintf(path, sizeof(path), "%s/boot_vga", dev->sysfs_path);
		if (dp_fs_read_line(path, buf, sizeof(buf)) > 0 && strcmp(buf, "1") == 0)
			crit_mark(list, dev->address, "is the boot VGA device (firmware and early console)");
	}
	_cleanup_closedir_ DIR *d = dp_fs_opendir("sys/class/graphics");
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "fb", 2) != 0 || strcmp(de->d_name, "fbcon") == 0)
			continue;
		snprintf(path, sizeof(path), "sys/class/graphics/%s/device", de->d_name);
		if (dp_fs_resolve(path, resolved, sizeof(resolved)) == 0 && crit_pci_in_path(resolved, addr)) {
			char reason[96];
			snprintf(reason, sizeof(reason), "drives framebuffer %s (console)", de->d_name);
			crit_mark(list, addr, reason);
		}
	}
}

/* ---- groups and bridges ------------------------------------------------------- */

/* Reasons an endpoint has on its own travel to everything in its IOMMU group. */
static void groups_propagate(struct dp_pci_list *list)
{
	_cleanup_(dp_groups_freep) struct dp_group_list groups = {0};
	if (dp_groups_build(list, &groups) < 0) {
		crit_out_of_memory();   /* its only failure */
		return;
	}
	for (size_t gi = 0; gi < groups.n; gi++) {
		const struct dp_iommu_group *g = &groups.g[gi];
		if (!g->host_critical || g->n < 2)
			continue;
		/* only reasons of their own travel: not the ones added here */
		_cleanup_free_ bool *direct = calloc(g->n, sizeof(bool));
		if (!direct) {
			crit_out_of_memory();
			return;
		}
		for (size_t a = 0; a < g->n; a++)
			direct[a] = list->dev[g->members[a]].critical.n > 0;
		for (size_t a = 0; a < g->n; a++) {
			const struct dp_pci_device *src = &list->dev[g->members[a]];
			for (size_t b = 0; b < g->n && direct[a]; b++)
				if (a != b)
					crit_checked(dp_strv_addf(&list->dev[g->members[b]].critical,
					             CRIT_SHARED_PREFIX " %d with %s, which %s", g->number,
					             src->address, src->critical.v[0]));
		}
	}
}

/* A PCI-to-PCI bridge on a root bus is a PCIe root port only if config space says so;
 * a conventional bridge there is not. Unreadable config space counts as a root port. */
static bool is_root_port(const struct dp_pci_device *dev)
{
	char path[PATH_MAX];
	uint8_t cfg[256];
	struct dp_pci_details d = {0};
	snprintf(path, sizeof(path), "%s/config", dev->sysfs_path);
	ssize_t n = dp_fs_read(path, (char *)cfg, sizeof(cfg));
	if (n < 64 || dp_pci_config_parse(cfg, (size_t)n, &d) < 0)
		return true;
	return d.pcie_type == 4;   /* PCI_EXP_TYPE_ROOT_PORT */
}

static void bridges_mark(struct dp_pci_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		struct dp_pci_device *dev = &list->dev[i];
		unsigned sub = (dev->class_code >> 8) & 0xff;
		if (dp_pci_device_base_class(dev) != 0x06)
			continue;
		if (sub == 0x00)
			crit_checked(dp_strv_add(&dev->critical, "is a host bridge"));
		else if (sub == 0x04 && !dev->parent[0] && is_root_port(dev))
			crit_checked(dp_strv_add(&dev->critical, "is a root port (the path to the devices below it)"));
	}
}

int dp_critical_mark(struct dp_pci_list *list)
{
	struct crit_ctx ctx = {.list = list};
	out_of_memory = false;
	int r = crit_mounts_read(&ctx.mounts);
	if (r == 0)
		r = crit_swaps_read(&ctx.mounts, &ctx.swaps);
	if (r == 0) {
		crit_block_mark(&ctx);
		crit_fs_mark(&ctx);
		crit_default_routes_mark(&ctx);
		consoles_mark(list);
		groups_propagate(list);
		bridges_mark(list);
	}
	crit_swaps_free(&ctx.swaps);
	crit_mounts_free(&ctx.mounts);
	free(ctx.routes);
	if (r < 0)
		return dp_error_set(r, "cannot read the host's mounts: out of memory");
	if (out_of_memory)
		return dp_error_set(-ENOMEM, "cannot tell which devices the host needs: out of memory");
	return 0;
}
