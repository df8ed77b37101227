/* Host-critical detection, internal to the inventory: the pieces critical.c puts
 * together. critical-parse.c holds the text parsers (no filesystem access, unit-tested
 * on their own); the other files read the host through fs/sysroot. */
#ifndef DP_CRITICAL_H
#define DP_CRITICAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devpass.h"

#define CRIT_MAX_DEPTH 8

/* ---- critical-parse.c: text formats of the kernel ------------------------------ */

/* One line of /proc/PID/mountinfo, split in place (the line is modified; the fields
 * point into it, octal escapes undone). */
struct crit_mount {
	unsigned major, minor;
	const char *root, *point, *fstype, *source, *options;   /* options: the superblock's */
	size_t ns;                                                /* index in crit_mounts.ns */
	unsigned bmajor, bminor;   /* the block device below it (btrfs: from the source) */
};
bool crit_mountinfo_parse_line(char *line, struct crit_mount *m);
void crit_unescape(char *s);
/* The value of key= in a comma-separated option list, copied into buf; false if absent. */
bool crit_option(const char *options, const char *key, char *buf, size_t size);
/* The server of a network filesystem, as an IP literal when the kernel shows one:
 * addr= (nfs, cifs), mon_addr= (ceph), else the host of "host:/path", "//host/share" or
 * "[v6]:/path". False when it is not a network filesystem or shows a host name only. */
bool crit_netfs_server(const char *fstype, const char *source, const char *options, char *buf,
                       size_t size);
bool crit_fstype_is_netfs(const char *fstype);
/* "traddr=10.0.0.2,trsvcid=4420,src_addr=..." (nvme-tcp/rdma controller address) */
bool crit_nvme_traddr(const char *address, char *buf, size_t size);

/* One row of /proc/net/route or /proc/net/ipv6_route, and the longest-prefix choice. */
struct crit_route {
	char ifname[32];
	uint8_t dest[16], mask[16];   /* network byte order; IPv4 uses the first 4 bytes */
	unsigned plen, metric;
	bool v6;
};
bool crit_route4_parse(const char *line, struct crit_route *r);
bool crit_route6_parse(const char *line, struct crit_route *r);
/* The route for addr (an IP literal) among n: longest prefix, then lowest metric; NULL
 * when none matches or addr is not an address. */
const struct crit_route *crit_route_lookup(const struct crit_route *routes, size_t n,
                                           const char *addr);

/* ---- critical-mounts.c: the mount tables of every namespace, and swaps ----------- */

struct crit_ns {
	int pid;          /* the lowest pid seen in it; 0 for devpass's own */
	char comm[64];
};

struct crit_mounts {
	struct crit_mount *m;
	size_t n;
	struct crit_ns *ns;   /* ns[0] is devpass's own */
	size_t nns;
	char **texts;         /* the mountinfo texts the fields point into */
	size_t ntexts;
};

int crit_mounts_read(struct crit_mounts *mt);
void crit_mounts_free(struct crit_mounts *mt);
/* "ext4 mounted at /mnt" plus " in the mount namespace of pid N (comm)" when foreign */
void crit_ns_describe(const struct crit_mounts *mt, const struct crit_mount *m, char *buf,
                      size_t size);   /* "" or " in the mount namespace of pid N (comm)" */
void crit_mount_describe(const struct crit_mounts *mt, const struct crit_mount *m, char *buf,
                         size_t size);
/* The filesystem a file lives on, by the longest mount point above its path: devpass's
 * own namespace first (a match on "/" only when the file is there), then the others
 * (never their "/"). NULL when no table holds it (a lazily unmounted filesystem). */
const struct crit_mount *crit_file_mount(const struct crit_mounts *mt, const char *path);

struct crit_swap {
	char *path;
	bool partition;
	unsigned major, minor;   /* a partition's device; for a file, its filesystem's */
	bool located;            /* the device is known */
	const struct crit_mount *fs;   /* a file's filesystem, when a table shows it */
};

struct crit_swaps {
	struct crit_swap *s;
	size_t n;
};

int crit_swaps_read(const struct crit_mounts *mt, struct crit_swaps *sw);
void crit_swaps_free(struct crit_swaps *sw);

/* ---- critical.c: shared helpers ------------------------------------------------- */

struct crit_ctx {
	struct dp_pci_list *list;
	struct crit_mounts mounts;
	struct crit_swaps swaps;
	struct crit_route *routes;
	size_t nroutes;
	bool routes_read;
};

/* Out of memory anywhere in the detection makes its whole answer unreliable (a device it
 * missed would look safe to hand over), so its many small steps record the failure here
 * rather than each returning it, and dp_critical_mark fails. crit_checked(r) records
 * r == -ENOMEM and returns r; crit_out_of_memory() records one outright. Per thread. */
int crit_checked(int r);
/* Whether a host-critical reason is one a device inherits from another member of its IOMMU
 * group rather than one of its own (the first reasons of a device are its own). */
bool crit_reason_inherited(const char *reason);
void crit_out_of_memory(void);
/* Whether a failure was recorded since the last call, and clears it. */
bool crit_out_of_memory_take(void);

void crit_mark(struct dp_pci_list *list, const char *address, const char *reason);
bool crit_pci_in_path(const char *path, char out[DP_ADDR_LEN]);
/* major:minor of a block device by name (sys/class/block/NAME/dev) */
bool crit_block_devnum(const char *name, unsigned *major, unsigned *minor);
/* The block device name of a major:minor (sys/dev/block/MAJ:MIN) */
bool crit_block_name(unsigned major, unsigned minor, char *buf, size_t size);
/* The block device a /dev path names (dev/mapper/x, dev/nvme0n1p1) */
bool crit_block_by_path(const char *devpath, unsigned *major, unsigned *minor);

/* ---- critical-block.c ------------------------------------------------------------ */
void crit_block_mark(struct crit_ctx *ctx);

/* What uses one disk, for the device kinds above the inventory (a USB stick): the same
 * detection as for PCI storage, the mount tables and swaps read once for many disks. */
struct crit_disk_probe;
int crit_disk_probe_new(struct crit_disk_probe **out);   /* 0, or -errno with the error set */
void crit_disk_probe_free(struct crit_disk_probe *p);
/* Every use of disk NAME (sys/block/NAME) and its partitions, appended to out as
 * "NODE: USE"; empty when nothing uses it. 0, or -ENOMEM. */
int crit_disk_probe_uses(struct crit_disk_probe *p, const char *disk, struct dp_strv *out);

/* ---- critical-fs.c: filesystems without a local block device --------------------- */
void crit_fs_mark(struct crit_ctx *ctx);

/* ---- critical-net.c ------------------------------------------------------------ */
void crit_default_routes_mark(struct crit_ctx *ctx);
void crit_netdev_mark(struct dp_pci_list *list, const char *ifname, const char *reason,
                      int depth);
/* Marks the NIC that routes to server: the reason is what, then
 * " from SERVER, which routes via IFACE". False when no route leads there. */
bool crit_server_mark(struct crit_ctx *ctx, const char *server, const char *what);

#endif
