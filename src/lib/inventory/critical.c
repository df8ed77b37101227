/* Host-critical detection: devices the host needs to keep running. A device is critical
 * when it backs a mounted filesystem or active swap, carries a default route, is the
 * boot VGA device or drives a framebuffer console, or is a host bridge or root port.
 * Sharing an IOMMU group with such an endpoint makes a device critical too, since
 * vfio takes groups whole. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "fs/sysroot.h"
#include "inventory/inventory.h"

#define MAX_DEPTH 8

/* The last PCI function named in a resolved sysfs path: the device itself; the ones
 * before it are the bridges above it. */
static bool pci_in_path(const char *path, char out[DP_ADDR_LEN])
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

static void mark(struct dp_pci_list *list, const char *address, const char *reason)
{
	struct dp_pci_device *dev = dp_pci_list_find(list, address);
	if (dev && !dp_strv_contains(&dev->critical, reason))
		dp_strv_add(&dev->critical, reason);
}

/* ---- block devices ------------------------------------------------------------ */

static void block_path_mark(struct dp_pci_list *list, const char *resolved, const char *reason,
                            int depth);

/* Multipath NVMe namespaces live under the subsystem, beside links to the controllers. */
static void nvme_subsystem_mark(struct dp_pci_list *list, const char *resolved,
                                const char *reason)
{
	char subsys[PATH_MAX];
	snprintf(subsys, sizeof(subsys), "%s", resolved);
	char *slash = strrchr(subsys, '/');
	if (!slash || !strstr(subsys, "nvme-subsys"))
		return;
	*slash = '\0';
	DIR *d = dp_fs_opendir(subsys);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "nvme", 4) != 0 || strncmp(de->d_name, "nvme-", 5) == 0)
			continue;
		char link[PATH_MAX], target[PATH_MAX], addr[DP_ADDR_LEN];
		snprintf(link, sizeof(link), "%s/%s", subsys, de->d_name);
		if (dp_fs_resolve(link, target, sizeof(target)) == 0 && pci_in_path(target, addr))
			mark(list, addr, reason);
	}
	closedir(d);
}

/* dm, md and LVM devices list what they are built on in slaves/ */
static void slaves_mark(struct dp_pci_list *list, const char *resolved, const char *reason,
                        int depth)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/slaves", resolved);
	DIR *d = dp_fs_opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char link[PATH_MAX], target[PATH_MAX];
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		if (dp_fs_resolve(link, target, sizeof(target)) == 0)
			block_path_mark(list, target, reason, depth + 1);
	}
	closedir(d);
}

static void block_path_mark(struct dp_pci_list *list, const char *resolved, const char *reason,
                            int depth)
{
	char addr[DP_ADDR_LEN];
	if (depth > MAX_DEPTH)
		return;
	if (pci_in_path(resolved, addr)) {
		mark(list, addr, reason);
		return;
	}
	slaves_mark(list, resolved, reason, depth);
	nvme_subsystem_mark(list, resolved, reason);
}

static void block_name_mark(struct dp_pci_list *list, const char *name, const char *reason)
{
	char link[PATH_MAX], resolved[PATH_MAX];
	snprintf(link, sizeof(link), "sys/class/block/%s", name);
	if (dp_fs_path_is_safe(name) && !strchr(name, '/') &&
	    dp_fs_resolve(link, resolved, sizeof(resolved)) == 0)
		block_path_mark(list, resolved, reason, 0);
}

static void block_devnum_mark(struct dp_pci_list *list, unsigned major, unsigned minor,
                              const char *reason)
{
	char link[64], resolved[PATH_MAX];
	snprintf(link, sizeof(link), "sys/dev/block/%u:%u", major, minor);
	if (dp_fs_resolve(link, resolved, sizeof(resolved)) == 0)
		block_path_mark(list, resolved, reason, 0);
}

/* mountinfo escapes spaces and the like as \ooo */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
			*w++ = (char)strtol((char[]){r[1], r[2], r[3], 0}, NULL, 8);
			r += 3;
		} else
			*w++ = *r;
	}
	*w = '\0';
}

struct mount_entry {
	unsigned major, minor;
	char point[PATH_MAX];
	char source[PATH_MAX];
};

static bool mountinfo_parse_line(char *line, struct mount_entry *m)
{
	char *save = NULL, *tok[5];
	for (int i = 0; i < 5; i++)
		if (!(tok[i] = strtok_r(i ? NULL : line, " ", &save)))
			return false;
	if (sscanf(tok[2], "%u:%u", &m->major, &m->minor) != 2)
		return false;
	snprintf(m->point, sizeof(m->point), "%s", tok[4]);
	unescape(m->point);
	char *t;
	while ((t = strtok_r(NULL, " ", &save)) && strcmp(t, "-") != 0)
		;
	char *fstype = t ? strtok_r(NULL, " ", &save) : NULL;
	char *source = fstype ? strtok_r(NULL, " ", &save) : NULL;
	snprintf(m->source, sizeof(m->source), "%s", source ? source : "");
	unescape(m->source);
	return true;
}

static void mount_mark(struct dp_pci_list *list, const struct mount_entry *m, const char *what)
{
	char reason[PATH_MAX + 64];
	snprintf(reason, sizeof(reason), "%s %s", what, m->point);
	if (m->major != 0)
		block_devnum_mark(list, m->major, m->minor, reason);
	else if (strncmp(m->source, "/dev/", 5) == 0)   /* btrfs reports an anonymous device */
		block_name_mark(list, strrchr(m->source, '/') + 1, reason);
}

static char *mountinfo_read(void)
{
	char *text = NULL;
	if (dp_fs_read_all("proc/self/mountinfo", &text, NULL) < 0 &&
	    dp_fs_read_all("proc/1/mountinfo", &text, NULL) < 0)
		return NULL;
	return text;
}

static void mounts_mark(struct dp_pci_list *list, const char *mountinfo)
{
	char *copy = strdup(mountinfo), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct mount_entry m;
		if (mountinfo_parse_line(line, &m))
			mount_mark(list, &m, "backs the filesystem mounted at");
	}
	free(copy);
}

/* A swap file lives on the filesystem with the longest mount point above it. */
static void swapfile_mark(struct dp_pci_list *list, const char *mountinfo, const char *file)
{
	char *copy = strdup(mountinfo), *save = NULL;
	struct mount_entry best = {0}, m;
	size_t best_len = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!mountinfo_parse_line(line, &m))
			continue;
		size_t len = strlen(m.point);
		bool under = strncmp(file, m.point, len) == 0 &&
		             (file[len] == '/' || strcmp(m.point, "/") == 0);
		if (under && len >= best_len) {
			best = m;
			best_len = len;
		}
	}
	free(copy);
	if (best_len) {
		snprintf(best.point, sizeof(best.point), "%s", file);
		mount_mark(list, &best, "backs active swap file");
	}
}

static void swaps_mark(struct dp_pci_list *list, const char *mountinfo)
{
	char *text = NULL, *save = NULL;
	if (dp_fs_read_all("proc/swaps", &text, NULL) < 0)
		return;
	char *line = strtok_r(text, "\n", &save);   /* header */
	while ((line = strtok_r(NULL, "\n", &save))) {
		char file[PATH_MAX], type[32];
		if (sscanf(line, "%4095s %31s", file, type) != 2)
			continue;
		unescape(file);
		if (strcmp(type, "partition") == 0 && strncmp(file, "/dev/", 5) == 0) {
			char reason[PATH_MAX + 32];
			snprintf(reason, sizeof(reason), "backs active swap %s", file);
			block_name_mark(list, strrchr(file, '/') + 1, reason);
		} else if (mountinfo)
			swapfile_mark(list, mountinfo, file);
	}
	free(text);
}

/* ---- network ------------------------------------------------------------------ */

static void netdev_mark(struct dp_pci_list *list, const char *ifname, const char *reason,
                        int depth);

/* bonds, VLANs and macvlans name their lower devices lower_*, bridges list brif/ */
static void netdev_lowers_mark(struct dp_pci_list *list, const char *dir, const char *prefix,
                               const char *reason, int depth)
{
	DIR *d = dp_fs_opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	size_t plen = strlen(prefix);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strncmp(de->d_name, prefix, plen) == 0)
			netdev_mark(list, de->d_name + plen, reason, depth + 1);
	closedir(d);
}

static void netdev_mark(struct dp_pci_list *list, const char *ifname, const char *reason,
                        int depth)
{
	char path[PATH_MAX], resolved[PATH_MAX], addr[DP_ADDR_LEN];
	if (depth > MAX_DEPTH || !*ifname || strchr(ifname, '/') || !dp_fs_path_is_safe(ifname))
		return;
	snprintf(path, sizeof(path), "sys/class/net/%s", ifname);
	if (dp_fs_resolve(path, resolved, sizeof(resolved)) < 0)
		return;
	if (pci_in_path(resolved, addr)) {
		mark(list, addr, reason);
		return;
	}
	netdev_lowers_mark(list, path, "lower_", reason, depth);
	snprintf(path, sizeof(path), "sys/class/net/%s/brif", ifname);
	netdev_lowers_mark(list, path, "", reason, depth);
}

static void default_route_mark(struct dp_pci_list *list, const char *ifname)
{
	char reason[128];
	snprintf(reason, sizeof(reason), "carries the default route (%s)", ifname);
	netdev_mark(list, ifname, reason, 0);
}

static void routes_mark(struct dp_pci_list *list)
{
	char *text = NULL, *save = NULL;
	if (dp_fs_read_all("proc/net/route", &text, NULL) == 0) {
		char *line = strtok_r(text, "\n", &save);   /* header */
		while ((line = strtok_r(NULL, "\n", &save))) {
			char ifname[64], dest[16], gw[16], mask[16];
			unsigned flags;
			if (sscanf(line, "%63s %15s %15s %x %*s %*s %*s %15s", ifname, dest, gw, &flags,
			           mask) == 5 && strcmp(dest, "00000000") == 0 &&
			    strcmp(mask, "00000000") == 0 && (flags & 1))
				default_route_mark(list, ifname);
		}
		free(text);
	}
	if (dp_fs_read_all("proc/net/ipv6_route", &text, NULL) == 0) {
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char dest[40], plen[4], ifname[64];
			if (sscanf(line, "%39s %3s %*s %*s %*s %*s %*s %*s %*s %63s", dest, plen, ifname) == 3 &&
			    strspn(dest, "0") == 32 && strcmp(plen, "00") == 0 && strcmp(ifname, "lo") != 0)
				default_route_mark(list, ifname);
		}
		free(text);
	}
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
			mark(list, dev->address, "is the boot VGA device (firmware and early console)");
	}
	DIR *d = dp_fs_opendir("sys/class/graphics");
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "fb", 2) != 0 || strcmp(de->d_name, "fbcon") == 0)
			continue;
		snprintf(path, sizeof(path), "sys/class/graphics/%s/device", de->d_name);
		if (dp_fs_resolve(path, resolved, sizeof(resolved)) == 0 && pci_in_path(resolved, addr)) {
			char reason[96];
			snprintf(reason, sizeof(reason), "drives framebuffer %s (console)", de->d_name);
			mark(list, addr, reason);
		}
	}
	closedir(d);
}

/* ---- groups and bridges ------------------------------------------------------- */

/* Reasons an endpoint has on its own travel to everything in its IOMMU group. */
static void groups_propagate(struct dp_pci_list *list)
{
	struct dp_group_list groups;
	dp_groups_build(list, &groups);
	for (size_t gi = 0; gi < groups.n; gi++) {
		const struct dp_iommu_group *g = &groups.g[gi];
		if (!g->host_critical || g->n < 2)
			continue;
		/* only reasons of their own travel: not the ones added here */
		bool *direct = calloc(g->n, sizeof(bool));
		for (size_t a = 0; a < g->n; a++)
			direct[a] = list->dev[g->members[a]].critical.n > 0;
		for (size_t a = 0; a < g->n; a++) {
			const struct dp_pci_device *src = &list->dev[g->members[a]];
			for (size_t b = 0; b < g->n && direct[a]; b++)
				if (a != b)
					dp_strv_addf(&list->dev[g->members[b]].critical,
					             "shares IOMMU group %d with %s, which %s", g->number,
					             src->address, src->critical.v[0]);
		}
		free(direct);
	}
	dp_groups_free(&groups);
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
			dp_strv_add(&dev->critical, "is a host bridge");
		else if (sub == 0x04 && !dev->parent[0] && is_root_port(dev))
			dp_strv_add(&dev->critical, "is a root port (the path to the devices below it)");
	}
}

int dp_critical_mark(struct dp_pci_list *list)
{
	char *mountinfo = mountinfo_read();
	if (mountinfo)
		mounts_mark(list, mountinfo);
	swaps_mark(list, mountinfo);
	free(mountinfo);
	routes_mark(list);
	consoles_mark(list);
	groups_propagate(list);
	bridges_mark(list);
	return 0;
}
