/* The types a parent offers: /sys/class/mdev_bus/<parent>/mdev_supported_types/<type>/,
 * or, for NVIDIA's VF vGPU layout, the VF's nvidia/creatable_vgpu_types (vgpu.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "util/error.h"
#include "mdev.h"

int mdev_name_check(const char *what, const char *name, size_t max)
{
	if (!name || !*name)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, what, "the %s is empty", what);
	if (strlen(name) >= max || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || !dp_fs_path_is_safe(name))
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, what,
		                           "%s '%s' is not a name of one sysfs entry", what, name);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir (no dot files), sorted; an absent dir is an empty list. */
static int dir_names(const char *dir, struct dp_strv *out)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && dp_strv_add(out, de->d_name) < 0)
			return dp_oom();
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

static int type_read(const char *parent, const char *type, struct dp_mdev_type *t)
{
	char dir[256], buf[4096], num[32];
	snprintf(dir, sizeof(dir), MDEV_BUS "/%s/mdev_supported_types/%s", parent, type);
	snprintf(t->parent, sizeof(t->parent), "%s", parent);
	snprintf(t->type, sizeof(t->type), "%s", type);
	int fd = dp_fs_dir_open(dir);
	if (fd < 0)
		return dp_error_set(fd, "cannot read mdev type %s of %s: %s", type, parent, strerror(-fd));
	/* name and description are optional: a driver without them shows none */
	t->name = strdup(dp_fs_dir_read_line(fd, "name", buf, sizeof(buf)) >= 0 ? buf : "");
	t->description =
		strdup(dp_fs_dir_read_line(fd, "description", buf, sizeof(buf)) >= 0 ? buf : "");
	t->available = dp_fs_dir_read_line(fd, "available_instances", num, sizeof(num)) >= 0 ?
	                       atoi(num) : 0;
	if (dp_fs_dir_read_line(fd, "device_api", t->device_api, sizeof(t->device_api)) < 0)
		t->device_api[0] = '\0';
	dp_fs_dir_close(fd);
	return t->name && t->description ? 0 : dp_oom();
}

static int parent_types_read(const char *parent, struct dp_mdev_type_list *out)
{
	char dir[160];
	snprintf(dir, sizeof(dir), MDEV_BUS "/%s/mdev_supported_types", parent);
	_cleanup_(dp_strv_freep) struct dp_strv types = {0};
	int r = dir_names(dir, &types);
	if (r < 0)
		return dp_error_set(r, "cannot list the mdev types of %s: %s", parent, strerror(-r));
	if (dp_array_grow(&out->t, out->n, types.n, sizeof(*out->t)) < 0)
		return dp_oom();
	for (size_t i = 0; i < types.n; i++) {
		struct dp_mdev_type *t = &out->t[out->n];
		memset(t, 0, sizeof(*t));
		out->n++;   /* counted at once: the list's free releases a half-read entry */
		if ((r = type_read(parent, types.v[i], t)) < 0)
			return r;
	}
	return 0;
}

static int unknown_parent(const char *parent)
{
	return dp_error_set_remedy(-ENOENT, DP_REMEDY_LIST_DEVICES, parent,
	                           "%s is no mediated device parent (not in /%s, and no NVIDIA "
	                           "VF with nvidia/creatable_vgpu_types)", parent, MDEV_BUS);
}

static int one_parent_types(const char *parent, struct dp_mdev_type_list *out)
{
	int r = mdev_name_check("parent", parent, sizeof(out->t->parent));
	if (r < 0)
		return r;
	char dir[128];
	snprintf(dir, sizeof(dir), MDEV_BUS "/%s", parent);
	if (dp_fs_exists(dir))
		return parent_types_read(parent, out);
	if (mdev_vf_layout(parent))
		return mdev_vf_types_read(parent, out);
	return unknown_parent(parent);
}

static int all_types(struct dp_mdev_type_list *out)
{
	_cleanup_(dp_strv_freep) struct dp_strv parents = {0}, vfs = {0};
	int r = dir_names(MDEV_BUS, &parents);
	if (r < 0)
		return dp_error_set(r, "cannot list /%s: %s", MDEV_BUS, strerror(-r));
	for (size_t i = 0; i < parents.n; i++)
		if ((r = parent_types_read(parents.v[i], out)) < 0)
			return r;
	if ((r = mdev_vf_parents(&vfs)) < 0)
		return r;
	for (size_t i = 0; i < vfs.n; i++)
		if ((r = mdev_vf_types_read(vfs.v[i], out)) < 0)
			return r;
	return 0;
}

int dp_mdev_types_read(const char *parent, struct dp_mdev_type_list *out)
{
	*out = (struct dp_mdev_type_list){0};
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list l = {0};
	int r = parent ? one_parent_types(parent, &l) : all_types(&l);
	if (r < 0)
		return r;
	*out = l;
	l = (struct dp_mdev_type_list){0};
	return 0;
}

void dp_mdev_type_list_free(struct dp_mdev_type_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->t[i].name);
		free(l->t[i].description);
	}
	free(l->t);
	*l = (struct dp_mdev_type_list){0};
}
