/* Mediated devices in the kernel: /sys/bus/mdev/devices/<uuid> (mdev_type and
 * iommu_group links), created by writing a uuid to a type's create attribute and
 * removed by writing 1 to the device's remove attribute. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "mdev.h"
#include "util/error.h"

bool dp_mdev_uuid_valid(const char *text)
{
	static const int dash[] = {8, 13, 18, 23};
	if (!text || strlen(text) != DP_MDEV_UUID_LEN)
		return false;
	for (int i = 0, k = 0; i < DP_MDEV_UUID_LEN; i++) {
		if (k < 4 && i == dash[k]) {
			if (text[i] != '-')
				return false;
			k++;
		} else if (!isxdigit((unsigned char)text[i])) {
			return false;
		}
	}
	return true;
}

int mdev_uuid_normalize(const char *text, char out[37])
{
	if (!dp_mdev_uuid_valid(text))
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "uuid", "'%s' is not a uuid "
		                           "(36 characters: 8-4-4-4-12 hexadecimal digits)",
		                           text ? text : "");
	for (int i = 0; i <= DP_MDEV_UUID_LEN; i++)
		out[i] = (char)tolower((unsigned char)text[i]);
	return 0;
}

int mdev_uuid_new(char out[37])
{
	uint8_t b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return dp_error_set(-errno, "cannot make a random uuid: %s", strerror(errno));
	b[6] = (b[6] & 0x0f) | 0x40;   /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;   /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
	return 0;
}

/* ---- listing ---------------------------------------------------------------------- */

/* parent and type of an active device: its directory sits in the parent's, and its
 * mdev_type link ends in the type's name */
static int active_read(const char *uuid, struct dp_mdev *m)
{
	char path[160], real[512], link[64];
	snprintf(m->uuid, sizeof(m->uuid), "%s", uuid);
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s", uuid);
	int r = dp_fs_resolve(path, real, sizeof(real));
	if (r < 0)
		return dp_error_set(r, "cannot resolve /%s: %s", path, strerror(-r));
	char *slash = strrchr(real, '/');
	if (slash) {
		*slash = '\0';
		slash = strrchr(real, '/');
	}
	snprintf(m->parent, sizeof(m->parent), "%s", slash ? slash + 1 : real);
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/mdev_type", uuid);
	if ((r = dp_fs_readlink_name(path, m->type, sizeof(m->type))) < 0)
		return dp_error_set(r, "cannot read /%s: %s", path, strerror(-r));
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/iommu_group", uuid);
	m->group = dp_fs_readlink_name(path, link, sizeof(link)) >= 0 ? atoi(link) : DP_NO_GROUP;
	m->active = true;
	return 0;
}

static struct dp_mdev *list_add(struct dp_mdev_list *l)
{
	if (dp_array_grow(&l->m, l->n, 1, sizeof(*l->m)) < 0)
		return NULL;
	struct dp_mdev *m = &l->m[l->n++];
	memset(m, 0, sizeof(*m));
	m->group = DP_NO_GROUP;
	return m;
}

static int actives_read(struct dp_mdev_list *l)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir(MDEV_DEVICES);
	if (!d && errno != ENOENT)
		return dp_error_set(-errno, "cannot list /%s: %s", MDEV_DEVICES, strerror(errno));
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!dp_mdev_uuid_valid(de->d_name))
			continue;
		struct dp_mdev *m = list_add(l);
		int r = m ? active_read(de->d_name, m) : dp_oom();
		if (r == -ENOENT)
			l->n--;   /* removed while we read it: gone, not an error */
		else if (r < 0)
			return r;
	}
	return 0;
}

static int vf_actives_read(struct dp_mdev_list *l)
{
	_cleanup_(dp_strv_freep) struct dp_strv vfs = {0};
	int r = mdev_vf_parents(&vfs);
	for (size_t i = 0; r >= 0 && i < vfs.n; i++) {
		unsigned id = 0;
		char path[192], link[32];
		if (mdev_vf_current(vfs.v[i], &id) < 0 || !id)
			continue;
		struct dp_mdev *m = list_add(l);
		if (!m)
			return dp_oom();
		snprintf(m->uuid, sizeof(m->uuid), "%s", vfs.v[i]);
		snprintf(m->parent, sizeof(m->parent), "%s", vfs.v[i]);
		snprintf(m->type, sizeof(m->type), "nvidia-%u", id);
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/iommu_group", vfs.v[i]);
		m->group = dp_fs_readlink_name(path, link, sizeof(link)) >= 0 ? atoi(link) : DP_NO_GROUP;
		m->active = true;
	}
	return r;
}

static struct dp_mdev *list_find(struct dp_mdev_list *l, const char *uuid)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->m[i].uuid, uuid) == 0)
			return &l->m[i];
	return NULL;
}

/* a definition marks its active device, or is listed as defined only */
static int defs_merge(struct dp_mdev_list *l)
{
	_cleanup_(dp_mdev_def_list_freep) struct dp_mdev_def_list defs = {0};
	int r = dp_mdev_defs_read(&defs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < defs.n; i++) {
		struct dp_mdev *m = list_find(l, defs.d[i].uuid);
		if (!m) {
			if (!(m = list_add(l)))
				return dp_oom();
			snprintf(m->uuid, sizeof(m->uuid), "%s", defs.d[i].uuid);
			snprintf(m->parent, sizeof(m->parent), "%s", defs.d[i].parent);
			snprintf(m->type, sizeof(m->type), "%s", defs.d[i].type);
		}
		m->defined = true;
		m->auto_start = defs.d[i].auto_start;
	}
	return 0;
}

static int cmp_mdev(const void *a, const void *b)
{
	const struct dp_mdev *x = a, *y = b;
	int c = strcmp(x->parent, y->parent);
	return c ? c : strcmp(x->uuid, y->uuid);
}

int dp_mdev_list_read(struct dp_mdev_list *out)
{
	*out = (struct dp_mdev_list){0};
	_cleanup_(dp_mdev_list_freep) struct dp_mdev_list l = {0};
	int r = actives_read(&l);
	if (r >= 0)
		r = vf_actives_read(&l);
	if (r >= 0)
		r = defs_merge(&l);
	if (r < 0)
		return r;
	if (l.n)
		qsort(l.m, l.n, sizeof(*l.m), cmp_mdev);
	*out = l;
	l = (struct dp_mdev_list){0};
	return 0;
}

void dp_mdev_list_free(struct dp_mdev_list *l)
{
	free(l->m);
	*l = (struct dp_mdev_list){0};
}

/* ---- create and remove ------------------------------------------------------------ */

static int type_dir(const char *parent, const char *type, char *dir, size_t size)
{
	char path[160];
	snprintf(path, sizeof(path), MDEV_BUS "/%s", parent);
	if (!dp_fs_exists(path))
		return dp_error_set_remedy(-ENOENT, DP_REMEDY_LIST_DEVICES, parent, "%s is no "
		                           "mediated device parent (not in /%s)", parent, MDEV_BUS);
	snprintf(dir, size, MDEV_BUS "/%s/mdev_supported_types/%s", parent, type);
	if (!dp_fs_exists(dir))
		return dp_error_set_remedy(-ENOENT, DP_REMEDY_PARAMETER, "type", "parent %s has no "
		                           "mdev type %s", parent, type);
	return 0;
}

static int create_error(int r, const char *dir, const char *parent, const char *type,
                        const char *uuid)
{
	char path[256], num[32] = "?";
	switch (r) {
	case -EEXIST:
		return dp_error_set_remedy(-EEXIST, DP_REMEDY_PARAMETER, "uuid", "an mdev with uuid "
		                           "%s exists already: choose another uuid", uuid);
	case -EUSERS:
	case -ENOSPC:
	case -EDQUOT:
		snprintf(path, sizeof(path), "%s/available_instances", dir);
		dp_fs_read_line(path, num, sizeof(num));
		return dp_error_set(-EUSERS, "parent %s has no capacity left for mdev type %s "
		                    "(available_instances: %s): remove one of its mdevs, or use "
		                    "another parent", parent, type, num);
	case -EINVAL:
		return dp_error_set(-EINVAL, "the kernel refused to create a %s on %s with uuid %s "
		                    "(invalid argument)", type, parent, uuid);
	default:
		return dp_error_set(r, "cannot create a %s on %s: %s", type, parent, strerror(-r));
	}
}

int dp_mdev_create(const char *parent, const char *type, const char *uuid, char uuid_out[37])
{
	char dir[256], id[37], path[300];
	int r = mdev_name_check("parent", parent, sizeof(((struct dp_mdev *)0)->parent));
	if (r >= 0)
		r = mdev_name_check("type", type, sizeof(((struct dp_mdev *)0)->type));
	if (r < 0)
		return r;
	if (mdev_vf_layout(parent))
		return mdev_vf_create(parent, type, uuid_out);
	if ((r = type_dir(parent, type, dir, sizeof(dir))) < 0)
		return r;
	r = uuid ? mdev_uuid_normalize(uuid, id) : mdev_uuid_new(id);
	if (r < 0 || (r = dp_fs_require_kernel()) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/create", dir);
	if ((r = dp_fs_write(path, id, 0)) < 0)
		return create_error(r, dir, parent, type, id);
	snprintf(uuid_out, 37, "%s", id);
	return 0;
}

static int remove_check(const char *uuid, char id[37])
{
	int r = mdev_uuid_normalize(uuid, id);
	if (r < 0)
		return r;
	char path[128];
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s", id);
	if (!dp_fs_exists(path))
		return dp_error_set_remedy(-ENOENT, DP_REMEDY_LIST_DEVICES, id, "no active mdev "
		                           "with uuid %s", id);
	return 0;
}

int dp_mdev_remove(const char *uuid, int timeout_ms)
{
	char id[37], path[160];
	if (uuid && !dp_mdev_uuid_valid(uuid) && mdev_name_check("uuid", uuid, 64) == 0 &&
	    mdev_vf_layout(uuid))
		return mdev_vf_remove(uuid, timeout_ms);
	int r = remove_check(uuid, id);
	if (r < 0 || (r = dp_fs_require_kernel()) < 0)
		return r;
	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/remove", id);
	r = dp_fs_write(path, "1", timeout_ms);
	/* the kernel's remove waits for the VFIO user to let go; the helper that waits is
	 * left behind and completes the removal when it does */
	if (r == -ETIMEDOUT)
		return dp_error_set_remedy(-EBUSY, DP_REMEDY_SHOW_DEVICE, id, "mdev %s is in use: a "
		                           "VFIO user (QEMU) holds it, and the kernel's remove waits "
		                           "until it is released (still pending after %d ms)", id,
		                           timeout_ms);
	if (r < 0)
		return dp_error_set(r, "cannot remove mdev %s: %s", id, strerror(-r));
	return 0;
}
