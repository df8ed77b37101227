/* Storage the host still uses. For each disk below a PCI function (NVMe namespaces,
 * SCSI/SATA/virtio/USB disks) and each of its partitions, what uses it: a mount in any
 * mount namespace, swap, a loop device whose backing file lives on it, and whatever is
 * built on it (holders/: dm, md, bcache; zram's backing device), followed upwards. What
 * the tables cannot explain the kernel still can: a block device that is mounted
 * anywhere, holds swap, or is claimed by a driver refuses an exclusive open (EBUSY).
 * Disks reached over the network (NVMe-oF, iSCSI) make the NIC towards their server
 * critical instead. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fs/sysroot.h"
#include "inventory/critical.h"
#include "alloc-util.h"

#define KERNEL_BUSY "in use by the kernel (mounted, swap or claimed by another driver; exclusive open refused)"

struct loopdev {
	char name[32];
	char *file;
	unsigned major, minor;   /* the backing file's device */
	bool located;
};

struct block_ctx {
	struct crit_ctx *crit;
	struct loopdev *loops;
	size_t nloops;
	struct dp_strv zram;     /* "zramN\tbacking device name" */
	bool stacks_read;
};

static void uses_of(struct block_ctx *b, const char *name, struct dp_strv *uses, int depth);

/* ---- mounts and swaps ------------------------------------------------------------ */

/* One use per block device: its first mount in devpass's own namespace (the one of the
 * whole filesystem when there are bind mounts), else its first in another namespace. */
static void mounts_use(struct block_ctx *b, unsigned major, unsigned minor, struct dp_strv *uses)
{
	const struct crit_mounts *mt = &b->crit->mounts;
	const struct crit_mount *best = NULL;
	size_t others = 0;   /* more mounts of it in best's namespace */
	for (size_t i = 0; i < mt->n; i++) {
		const struct crit_mount *m = &mt->m[i];
		if (m->bmajor != major || m->bminor != minor)
			continue;
		if (!best || (m->ns == 0 && best->ns != 0)) {
			best = m;
			others = 0;
			continue;
		}
		if (m->ns != best->ns)
			continue;   /* one namespace says enough */
		others++;
		if (strcmp(best->root, "/") != 0 && strcmp(m->root, "/") == 0)
			best = m;
	}
	if (!best)
		return;
	char what[PATH_MAX + 128];
	crit_mount_describe(mt, best, what, sizeof(what));
	if (others)
		crit_checked(dp_strv_addf(uses, "%s (and at %zu other place%s)", what, others,
		                          others > 1 ? "s" : ""));
	else
		crit_checked(dp_strv_add(uses, what));
}

static bool mounted_anywhere(struct block_ctx *b, unsigned major, unsigned minor)
{
	const struct crit_mounts *mt = &b->crit->mounts;
	for (size_t i = 0; i < mt->n; i++)
		if (mt->m[i].bmajor == major && mt->m[i].bminor == minor)
			return true;
	return false;
}

static void swaps_use(struct block_ctx *b, unsigned major, unsigned minor, struct dp_strv *uses)
{
	const struct crit_swaps *sw = &b->crit->swaps;
	for (size_t i = 0; i < sw->n; i++) {
		const struct crit_swap *s = &sw->s[i];
		if (!s->located || s->major != major || s->minor != minor)
			continue;
		char fs[PATH_MAX + 128];
		if (s->partition) {
			crit_checked(dp_strv_add(uses, "active swap"));
			continue;
		}
		crit_mount_describe(&b->crit->mounts, s->fs, fs, sizeof(fs));
		crit_checked(dp_strv_addf(uses, "active swap file %s on %s", s->path, fs));
	}
}

/* A filesystem the kernel still keeps though no table shows it: lazily unmounted while
 * a swap file or an open file held it. ext4 and xfs keep a sysfs directory per live
 * superblock. */
static const char *orphan_fs(const char *name)
{
	static const char *const types[] = {"ext4", "xfs", NULL};
	char path[PATH_MAX];
	for (size_t i = 0; types[i]; i++) {
		snprintf(path, sizeof(path), "sys/fs/%s/%s", types[i], name);
		if (dp_fs_exists(path))
			return types[i];
	}
	return NULL;
}

/* Swap files whose filesystem no table shows: the kernel names only the path. */
static size_t orphan_swaps(struct block_ctx *b, const char *what, struct dp_strv *uses)
{
	const struct crit_swaps *sw = &b->crit->swaps;
	size_t n = 0;
	for (size_t i = 0; i < sw->n; i++)
		if (!sw->s[i].partition && !sw->s[i].located && ++n)
			crit_checked(dp_strv_addf(uses, "active swap file %s %s", sw->s[i].path, what));
	return n;
}

static void orphan_use(struct block_ctx *b, const char *name, unsigned major, unsigned minor,
                       struct dp_strv *uses)
{
	const char *type = orphan_fs(name);
	if (!type || mounted_anywhere(b, major, minor))
		return;
	char what[128];
	snprintf(what, sizeof(what), "on its %s filesystem, mounted nowhere (lazily unmounted)",
	         type);
	if (orphan_swaps(b, what, uses) == 0)
		crit_checked(dp_strv_addf(uses, "%s filesystem still active though mounted nowhere "
		                          "(lazily unmounted and held open)", type));
}

/* ---- stacks: loop, zram, holders ------------------------------------------------- */

static bool block_node(const char *name, unsigned major, unsigned minor, char *path, size_t size)
{
	struct stat st;
	snprintf(path, size, "dev/block/%u:%u", major, minor);
	if (dp_fs_stat(path, &st) == 0)
		return true;
	snprintf(path, size, "dev/%s", name);
	return dp_fs_stat(path, &st) == 0;
}

/* The kernel's answer first (LOOP_GET_STATUS64); a captured tree has no loop device
 * behind the node, so the file's path is looked up among the mounts. */
static void loop_locate(struct block_ctx *b, struct loopdev *l)
{
	unsigned major, minor;
	char node[PATH_MAX];
	dev_t backing;
	if (crit_block_devnum(l->name, &major, &minor) && block_node(l->name, major, minor, node, sizeof(node)) &&
	    dp_fs_loop_backing(node, makedev(major, minor), &backing) == 0) {
		l->major = major(backing);
		l->minor = minor(backing);
		l->located = true;
		if (l->major == 0)   /* btrfs: the anonymous device of a mount */
			for (size_t i = 0; i < b->crit->mounts.n; i++) {
				const struct crit_mount *m = &b->crit->mounts.m[i];
				if (m->major == 0 && m->minor == l->minor && m->bmajor) {
					l->major = m->bmajor;
					l->minor = m->bminor;
				}
			}
		return;
	}
	const struct crit_mount *m = crit_file_mount(&b->crit->mounts, l->file);
	if (m && m->bmajor) {
		l->major = m->bmajor;
		l->minor = m->bminor;
		l->located = true;
	}
}

static void loop_add(struct block_ctx *b, const char *name)
{
	char path[PATH_MAX], file[PATH_MAX];
	snprintf(path, sizeof(path), "sys/block/%s/loop/backing_file", name);
	if (dp_fs_read_line(path, file, sizeof(file)) <= 0)
		return;
	if (crit_checked(dp_array_grow(&b->loops, b->nloops, 1, sizeof(*b->loops))) < 0)
		return;
	struct loopdev *l = &b->loops[b->nloops];
	*l = (struct loopdev){0};
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (!(l->file = strdup(file))) {
		crit_out_of_memory();
		return;
	}
	loop_locate(b, l);
	b->nloops++;
}

static void zram_add(struct block_ctx *b, const char *name)
{
	char path[PATH_MAX], dev[PATH_MAX];
	snprintf(path, sizeof(path), "sys/block/%s/backing_dev", name);
	if (dp_fs_read_line(path, dev, sizeof(dev)) > 0 && strcmp(dev, "none") != 0) {
		const char *base = strrchr(dev, '/');
		crit_checked(dp_strv_addf(&b->zram, "%s\t%s", name, base ? base + 1 : dev));
	}
}

/* Loop and zram devices are read once, and only when some disk has a PCI function. */
static void stacks_read(struct block_ctx *b)
{
	if (b->stacks_read)
		return;
	b->stacks_read = true;
	_cleanup_closedir_ DIR *d = dp_fs_opendir("sys/block");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "loop", 4) == 0)
			loop_add(b, de->d_name);
		else if (strncmp(de->d_name, "zram", 4) == 0)
			zram_add(b, de->d_name);
	}
}

/* Each use of what is built on a device, prefixed by how: "part of md0 (raid1): ..." */
static void stacked_uses(struct block_ctx *b, const char *how, const char *upper,
                         struct dp_strv *uses, int depth)
{
	_cleanup_(dp_strv_freep) struct dp_strv sub = {0};
	uses_of(b, upper, &sub, depth + 1);
	for (size_t i = 0; i < sub.n; i++)
		crit_checked(dp_strv_addf(uses, "%s: %s", how, sub.v[i]));
	if (sub.n == 0)
		crit_checked(dp_strv_add(uses, how));   /* built on it, though unused: taking it breaks that */
}

static void loops_use(struct block_ctx *b, unsigned major, unsigned minor, struct dp_strv *uses,
                      int depth)
{
	for (size_t i = 0; i < b->nloops; i++) {
		const struct loopdev *l = &b->loops[i];
		if (!l->located || l->major != major || l->minor != minor)
			continue;
		char how[PATH_MAX + 64];
		snprintf(how, sizeof(how), "backing file %s of %s", l->file, l->name);
		stacked_uses(b, how, l->name, uses, depth);
	}
}

static void zram_use(struct block_ctx *b, const char *name, struct dp_strv *uses, int depth)
{
	for (size_t i = 0; i < b->zram.n; i++) {
		const char *tab = strchr(b->zram.v[i], '\t');
		if (!tab || strcmp(tab + 1, name) != 0)
			continue;
		char zram[64], how[128];
		snprintf(zram, sizeof(zram), "%.*s", (int)(tab - b->zram.v[i]), b->zram.v[i]);
		snprintf(how, sizeof(how), "backing device of %s", zram);
		stacked_uses(b, how, zram, uses, depth);
	}
}

/* "dm-0 (LVM vg-root)", "dm-1 (dm-crypt luks-…)", "md0 (raid1)", "bcache0" */
static void holder_describe(const char *holder, char *buf, size_t size)
{
	char path[PATH_MAX], name[128] = "", uuid[160] = "", level[32] = "";
	snprintf(path, sizeof(path), "sys/class/block/%s/dm/name", holder);
	if (dp_fs_read_line(path, name, sizeof(name)) >= 0 && *name) {
		snprintf(path, sizeof(path), "sys/class/block/%s/dm/uuid", holder);
		dp_fs_read_line(path, uuid, sizeof(uuid));
		const char *kind = strncmp(uuid, "CRYPT-", 6) == 0   ? "dm-crypt"
		                   : strncmp(uuid, "LVM-", 4) == 0   ? "LVM"
		                   : strncmp(uuid, "mpath-", 6) == 0 ? "multipath"
		                                                     : "device-mapper";
		snprintf(buf, size, "%s (%s %s)", holder, kind, name);
		return;
	}
	snprintf(path, sizeof(path), "sys/class/block/%s/md/level", holder);
	if (dp_fs_read_line(path, level, sizeof(level)) > 0)
		snprintf(buf, size, "%s (%s)", holder, level);
	else
		snprintf(buf, size, "%s", holder);
}

static void holders_use(struct block_ctx *b, const char *name, struct dp_strv *uses, int depth)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "sys/class/block/%s/holders", name);
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char desc[PATH_MAX], how[PATH_MAX + 16];
		holder_describe(de->d_name, desc, sizeof(desc));
		snprintf(how, sizeof(how), "part of %s", desc);
		stacked_uses(b, how, de->d_name, uses, depth);
	}
}

/* The exclusive open, for a device none of the tables explains. */
static int probe(const char *name, unsigned major, unsigned minor)
{
	char node[PATH_MAX];
	if (!block_node(name, major, minor, node, sizeof(node)))
		return -ENOTBLK;
	return dp_fs_block_probe_exclusive(node, makedev(major, minor));
}

static void uses_of(struct block_ctx *b, const char *name, struct dp_strv *uses, int depth)
{
	unsigned major, minor;
	if (depth > CRIT_MAX_DEPTH || !crit_block_devnum(name, &major, &minor))
		return;
	size_t before = uses->n;
	mounts_use(b, major, minor, uses);
	swaps_use(b, major, minor, uses);
	loops_use(b, major, minor, uses, depth);
	zram_use(b, name, uses, depth);
	holders_use(b, name, uses, depth);
	if (uses->n == before)
		orphan_use(b, name, major, minor, uses);
	if (uses->n == before && depth > 0 && probe(name, major, minor) == -EBUSY)
		crit_checked(dp_strv_add(uses, KERNEL_BUSY));
}

/* ---- disks and their functions --------------------------------------------------- */

/* The disk itself and its partitions (subdirectories with a "partition" attribute) */
static void disk_nodes(const char *disk, struct dp_strv *nodes)
{
	char dir[PATH_MAX], path[PATH_MAX];
	crit_checked(dp_strv_add(nodes, disk));
	snprintf(dir, sizeof(dir), "sys/block/%s", disk);
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	struct dirent *de;
	size_t len = strlen(disk);
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, disk, len) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/partition", dir, de->d_name);
		if (dp_fs_exists(path))
			crit_checked(dp_strv_add(nodes, de->d_name));
	}
}

/* Every use of the disk and its partitions, as "NODE: USE"; when none is known but the
 * kernel refuses an exclusive open, that refusal is the reason. */
static void disk_uses(struct block_ctx *b, const char *disk, struct dp_strv *out)
{
	_cleanup_(dp_strv_freep) struct dp_strv nodes = {0};
	disk_nodes(disk, &nodes);
	stacks_read(b);
	for (size_t i = 0; i < nodes.n; i++) {
		_cleanup_(dp_strv_freep) struct dp_strv uses = {0};
		uses_of(b, nodes.v[i], &uses, 0);
		for (size_t u = 0; u < uses.n; u++)
			crit_checked(dp_strv_addf(out, "%s: %s", nodes.v[i], uses.v[u]));
	}
	for (size_t i = nodes.n; out->n == 0 && i-- > 0;) {   /* partitions first */
		unsigned major, minor;
		if (!crit_block_devnum(nodes.v[i], &major, &minor) || probe(nodes.v[i], major, minor) != -EBUSY)
			continue;
		_cleanup_(dp_strv_freep) struct dp_strv orphans = {0};
		if (orphan_swaps(b, "on a filesystem mounted nowhere (lazily unmounted; exclusive open "
		                 "refused)", &orphans))
			for (size_t s = 0; s < orphans.n; s++)
				crit_checked(dp_strv_addf(out, "%s: %s", nodes.v[i], orphans.v[s]));
		else
			crit_checked(dp_strv_addf(out, "%s: %s", nodes.v[i], KERNEL_BUSY));
		if (i > 0)
			break;   /* a busy partition makes the whole disk busy too */
	}
}

static void reasons_mark(struct dp_pci_list *list, const char *addr, const struct dp_strv *uses)
{
	for (size_t i = 0; i < uses->n; i++) {
		_cleanup_free_ char *reason = NULL;
		if (asprintf(&reason, "backs %s", uses->v[i]) < 0)
			crit_out_of_memory();
		else
			crit_mark(list, addr, reason);
	}
}

/* Controllers of a multipath NVMe namespace: links beside it in the subsystem. */
static void subsystem_controllers(const char *resolved, struct dp_strv *ctrls)
{
	char subsys[PATH_MAX];
	snprintf(subsys, sizeof(subsys), "%s", resolved);
	char *slash = strrchr(subsys, '/');
	if (!slash)
		return;
	*slash = '\0';
	_cleanup_closedir_ DIR *d = dp_fs_opendir(subsys);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strncmp(de->d_name, "nvme", 4) == 0 && strncmp(de->d_name, "nvme-", 5) != 0 &&
		    !strchr(de->d_name + 4, 'n'))
			crit_checked(dp_strv_add(ctrls, de->d_name));
}

/* The NVMe controllers a disk is reached through: its parent directory, or the
 * subsystem's controllers for a multipath namespace. */
static void nvme_controllers(const char *resolved, struct dp_strv *ctrls)
{
	if (strstr(resolved, "/nvme-subsystem/")) {
		subsystem_controllers(resolved, ctrls);
		return;
	}
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", resolved);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*slash = '\0';
		slash = strrchr(parent, '/');
		if (slash && strncmp(slash + 1, "nvme", 4) == 0)
			crit_checked(dp_strv_add(ctrls, slash + 1));
	}
}

/* ---- disks over the network ------------------------------------------------------ */

/* "nvme-tcp" and its server, for a fabrics controller */
static bool nvme_fabric_server(const char *ctrl, char *kind, size_t ksize, char *server, size_t size)
{
	char path[PATH_MAX], transport[32], address[512];
	snprintf(path, sizeof(path), "sys/class/nvme/%s/transport", ctrl);
	if (dp_fs_read_line(path, transport, sizeof(transport)) <= 0 || strcmp(transport, "pcie") == 0)
		return false;
	snprintf(path, sizeof(path), "sys/class/nvme/%s/address", ctrl);
	if (dp_fs_read_line(path, address, sizeof(address)) <= 0 || !crit_nvme_traddr(address, server, size))
		return false;
	snprintf(kind, ksize, "nvme-%s", transport);
	return true;
}

/* An iSCSI disk sits below sessionN: its connection names the target's address. */
static bool iscsi_server(const char *resolved, char *server, size_t size)
{
	const char *at = strstr(resolved, "/session");
	unsigned session;
	if (!at || sscanf(at, "/session%u", &session) != 1)
		return false;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "sys/class/iscsi_connection/connection%u:0/persistent_address", session);
	if (dp_fs_read_line(path, server, size) > 0)
		return true;
	snprintf(path, sizeof(path), "sys/class/iscsi_connection/connection%u:0/address", session);
	return dp_fs_read_line(path, server, size) > 0;
}

static void network_disk_mark(struct block_ctx *b, const char *disk, const char *kind,
                              const char *server)
{
	_cleanup_(dp_strv_freep) struct dp_strv uses = {0};
	disk_uses(b, disk, &uses);
	if (uses.n == 0)
		return;
	_cleanup_free_ char *what = NULL;
	if (asprintf(&what, "%s disk %s (%s)", kind, disk, uses.v[0]) < 0)
		crit_out_of_memory();
	else
		crit_server_mark(b->crit, server, what);
}

static void disk_mark(struct block_ctx *b, const char *disk)
{
	char link[PATH_MAX], resolved[PATH_MAX], addr[DP_ADDR_LEN], kind[32], server[128];
	snprintf(link, sizeof(link), "sys/block/%s", disk);
	if (dp_fs_resolve(link, resolved, sizeof(resolved)) < 0)
		return;
	_cleanup_(dp_strv_freep) struct dp_strv ctrls = {0}, uses = {0};
	if (crit_pci_in_path(resolved, addr)) {
		disk_uses(b, disk, &uses);
		reasons_mark(b->crit->list, addr, &uses);
		return;
	}
	if (iscsi_server(resolved, server, sizeof(server))) {
		network_disk_mark(b, disk, "iSCSI", server);
		return;
	}
	nvme_controllers(resolved, &ctrls);
	for (size_t i = 0; i < ctrls.n; i++) {
		snprintf(link, sizeof(link), "sys/class/nvme/%s", ctrls.v[i]);
		if (dp_fs_resolve(link, resolved, sizeof(resolved)) == 0 && crit_pci_in_path(resolved, addr)) {
			if (!uses.n)
				disk_uses(b, disk, &uses);
			reasons_mark(b->crit->list, addr, &uses);
		} else if (nvme_fabric_server(ctrls.v[i], kind, sizeof(kind), server, sizeof(server)))
			network_disk_mark(b, disk, kind, server);
	}
}

/* Virtual disks (dm, md, loop, zram) are reached from the disks they are built on. */
static bool is_virtual(const char *name)
{
	static const char *const prefixes[] = {"dm-", "md", "loop", "zram", "ram", "bcache", NULL};
	for (size_t i = 0; prefixes[i]; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

void crit_block_mark(struct crit_ctx *ctx)
{
	struct block_ctx b = {.crit = ctx};
	_cleanup_closedir_ DIR *d = dp_fs_opendir("sys/block");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && !is_virtual(de->d_name) && dp_fs_path_is_safe(de->d_name))
			disk_mark(&b, de->d_name);
	for (size_t i = 0; i < b.nloops; i++)
		free(b.loops[i].file);
	free(b.loops);
	dp_strv_free(&b.zram);
}

/* ---- one disk at a time, for other device kinds ------------------------------------ */

struct crit_disk_probe {
	struct crit_ctx crit;
	struct block_ctx block;
};

int crit_disk_probe_new(struct crit_disk_probe **out)
{
	_cleanup_free_ struct crit_disk_probe *p = calloc(1, sizeof(*p));
	if (!p)
		return dp_error_set(-ENOMEM, "cannot read the host's mounts: out of memory");
	int r = crit_mounts_read(&p->crit.mounts);
	if (r == 0)
		r = crit_swaps_read(&p->crit.mounts, &p->crit.swaps);
	if (r < 0) {
		crit_swaps_free(&p->crit.swaps);
		crit_mounts_free(&p->crit.mounts);
		return dp_error_set(r, "cannot read the host's mounts and swaps");
	}
	p->block.crit = &p->crit;
	*out = TAKE_PTR(p);
	return 0;
}

void crit_disk_probe_free(struct crit_disk_probe *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->block.nloops; i++)
		free(p->block.loops[i].file);
	free(p->block.loops);
	dp_strv_free(&p->block.zram);
	crit_swaps_free(&p->crit.swaps);
	crit_mounts_free(&p->crit.mounts);
	free(p);
}

int crit_disk_probe_uses(struct crit_disk_probe *p, const char *disk, struct dp_strv *out)
{
	if (!dp_fs_path_is_safe(disk) || strchr(disk, '/'))
		return 0;
	crit_out_of_memory_take();
	disk_uses(&p->block, disk, out);
	return crit_out_of_memory_take() ? -ENOMEM : 0;
}
