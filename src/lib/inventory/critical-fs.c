/* Filesystems with no local disk below them, in any mount namespace: 9p and virtiofs
 * lead to the virtio device that carries their tag, network filesystems (nfs, cifs,
 * ceph, 9p over tcp) to the NIC the route to their server leaves by. A filesystem seen
 * in several namespaces (a 9p root is in all of them) gives one reason. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/sysroot.h"
#include "inventory/critical.h"
#include "alloc-util.h"

#define VIRTIO_ID_FS 26

struct virtio_dev {
	char name[32];
	char tag[128];   /* 9p's mount_tag; "" for others */
	unsigned id;     /* virtio device id: 9 for 9p, 26 for virtio-fs */
	char addr[DP_ADDR_LEN];   /* its PCI function, "" when it has none */
};

struct fs_ctx {
	struct crit_ctx *crit;
	struct virtio_dev *virtio;
	size_t nvirtio;
	bool virtio_read;
};

static void virtio_add(struct fs_ctx *f, const char *name)
{
	char path[PATH_MAX], resolved[PATH_MAX], buf[32];
	if (crit_checked(dp_array_grow(&f->virtio, f->nvirtio, 1, sizeof(*f->virtio))) < 0)
		return;
	struct virtio_dev *v = &f->virtio[f->nvirtio];
	*v = (struct virtio_dev){0};
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(path, sizeof(path), "sys/bus/virtio/devices/%s/device", name);
	if (dp_fs_read_line(path, buf, sizeof(buf)) > 0)
		v->id = (unsigned)strtoul(buf, NULL, 16);
	snprintf(path, sizeof(path), "sys/bus/virtio/devices/%s/mount_tag", name);
	dp_fs_read_line(path, v->tag, sizeof(v->tag));
	snprintf(path, sizeof(path), "sys/bus/virtio/devices/%s", name);
	if (dp_fs_resolve(path, resolved, sizeof(resolved)) == 0)
		crit_pci_in_path(resolved, v->addr);
	f->nvirtio++;
}

/* Read once, when the first 9p or virtiofs mount asks. */
static void virtio_read(struct fs_ctx *f)
{
	if (f->virtio_read)
		return;
	f->virtio_read = true;
	_cleanup_closedir_ DIR *d = dp_fs_opendir("sys/bus/virtio/devices");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strncmp(de->d_name, "virtio", 6) == 0 && dp_fs_path_is_safe(de->d_name))
			virtio_add(f, de->d_name);
}

static void nine_p_mark(struct fs_ctx *f, const struct crit_mount *m, const char *where)
{
	virtio_read(f);
	for (size_t i = 0; i < f->nvirtio; i++) {
		const struct virtio_dev *v = &f->virtio[i];
		if (!*v->addr || strcmp(v->tag, m->source) != 0)
			continue;
		_cleanup_free_ char *reason = NULL;
		if (asprintf(&reason, "carries the 9p filesystem mounted at %s%s over %s (tag %s)",
		             m->point, where, v->name, m->source) < 0)
			crit_out_of_memory();
		else
			crit_mark(f->crit->list, v->addr, reason);
	}
}

/* Kernels from 6.9 name each virtio-fs device's tag in sys/fs/virtiofs/N/tag, with a
 * link to the device; the PCI function of the one with this tag, if so. */
static bool virtiofs_by_tag(const char *tag, char *name, size_t nsize, char addr[DP_ADDR_LEN])
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir("sys/fs/virtiofs");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[PATH_MAX], resolved[PATH_MAX], buf[128];
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "sys/fs/virtiofs/%s/tag", de->d_name);
		if (dp_fs_read_line(path, buf, sizeof(buf)) <= 0 || strcmp(buf, tag) != 0)
			continue;
		snprintf(path, sizeof(path), "sys/fs/virtiofs/%s/device", de->d_name);
		if (dp_fs_resolve(path, resolved, sizeof(resolved)) == 0 && crit_pci_in_path(resolved, addr)) {
			const char *base = strrchr(resolved, '/');
			snprintf(name, nsize, "%s", base ? base + 1 : resolved);
			return true;
		}
	}
	return false;
}

/* 6.1 does not say which virtio-fs device has which tag: every one is kept then. */
static void virtiofs_mark(struct fs_ctx *f, const struct crit_mount *m, const char *where)
{
	char name[64], addr[DP_ADDR_LEN];
	_cleanup_free_ char *reason = NULL;
	if (virtiofs_by_tag(m->source, name, sizeof(name), addr)) {
		if (asprintf(&reason, "carries the virtiofs filesystem mounted at %s%s over %s (tag %s)",
		             m->point, where, name, m->source) < 0)
			crit_out_of_memory();
		else
			crit_mark(f->crit->list, addr, reason);
		return;
	}
	virtio_read(f);
	for (size_t i = 0; i < f->nvirtio; i++) {
		const struct virtio_dev *v = &f->virtio[i];
		if (v->id != VIRTIO_ID_FS || !*v->addr)
			continue;
		_cleanup_free_ char *maybe = NULL;
		if (asprintf(&maybe, "may carry the virtiofs filesystem mounted at %s%s (tag %s): the "
		             "kernel does not say which virtio-fs device has that tag, so each one (here "
		             "%s) is kept", m->point, where, m->source, v->name) < 0)
			crit_out_of_memory();
		else
			crit_mark(f->crit->list, v->addr, maybe);
	}
}

static void mount_mark(struct fs_ctx *f, const struct crit_mount *m)
{
	char where[128], server[128], trans[16] = "";
	crit_ns_describe(&f->crit->mounts, m, where, sizeof(where));
	if (crit_netfs_server(m->fstype, m->source, m->options, server, sizeof(server))) {
		char what[PATH_MAX + 160];
		crit_mount_describe(&f->crit->mounts, m, what, sizeof(what));
		crit_server_mark(f->crit, server, what);
	} else if (strcmp(m->fstype, "9p") == 0 &&
	           (!crit_option(m->options, "trans", trans, sizeof(trans)) || strcmp(trans, "virtio") == 0))
		nine_p_mark(f, m, where);
	else if (strcmp(m->fstype, "virtiofs") == 0)
		virtiofs_mark(f, m, where);
}

static bool interesting(const struct crit_mount *m)
{
	return crit_fstype_is_netfs(m->fstype) || strcmp(m->fstype, "9p") == 0 ||
	       strcmp(m->fstype, "virtiofs") == 0;
}

void crit_fs_mark(struct crit_ctx *ctx)
{
	struct fs_ctx f = {.crit = ctx};
	_cleanup_(dp_strv_freep) struct dp_strv seen = {0};   /* "fstype\tsource" */
	for (size_t i = 0; i < ctx->mounts.n; i++) {
		const struct crit_mount *m = &ctx->mounts.m[i];
		if (!interesting(m))
			continue;
		_cleanup_free_ char *key = NULL;
		if (asprintf(&key, "%s\t%s", m->fstype, m->source) < 0) {
			crit_out_of_memory();
			continue;
		}
		if (dp_strv_contains(&seen, key))
			continue;
		crit_checked(dp_strv_add(&seen, key));
		mount_mark(&f, m);
	}
	free(f.virtio);
}
