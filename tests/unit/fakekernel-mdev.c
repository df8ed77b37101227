/* The fake kernel's mediated devices: a type's create (a uuid makes the device under its
 * parent, in /sys/bus/mdev/devices, and takes one of available_instances), a device's
 * remove (gives it back), and NVIDIA's VF vGPU current_vgpu_type; faults on request. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devpass.h"
#include "fakekernel.h"

static int counter_add(const char *path, int delta)
{
	FILE *f = fopen(path, "r");
	int n = 0;
	if (!f || fscanf(f, "%d", &n) != 1)
		n = 0;
	if (f)
		fclose(f);
	if (n + delta < 0)
		return -1;
	if (!(f = fopen(path, "w")))
		return -1;
	fprintf(f, "%d\n", n + delta);
	fclose(f);
	return n + delta;
}

/* the root-relative real path of rel, as an absolute link target inside the root (the
 * gateway resolves links in the root) */
static int in_root(const char *root, const char *rel, char *out, size_t size)
{
	char path[PATH_MAX * 2], real[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (!realpath(path, real) || strncmp(real, root, strlen(root)) != 0)
		return -ENOENT;
	snprintf(out, size, "%s", real + strlen(root));
	return 0;
}

static int do_create(const char *root, const char *parent, const char *type, const char *data)
{
	char uuid[64], pdir[PATH_MAX], p[PATH_MAX * 3], t[PATH_MAX * 2];
	snprintf(uuid, sizeof(uuid), "%.*s", (int)strcspn(data, "\n"), data);
	if (!dp_mdev_uuid_valid(uuid))
		return -EINVAL;
	snprintf(p, sizeof(p), "%s/sys/bus/mdev/devices/%s", root, uuid);
	if (access(p, F_OK) == 0 || fk_fault_now(FK_MDEV_CREATE_EEXIST))
		return -EEXIST;
	snprintf(t, sizeof(t), "sys/class/mdev_bus/%s", parent);
	if (in_root(root, t, pdir, sizeof(pdir)) < 0)
		return -ENODEV;
	snprintf(p, sizeof(p), "%s%s/mdev_supported_types/%s/available_instances", root, pdir, type);
	if (fk_fault_now(FK_MDEV_CREATE_EUSERS) || counter_add(p, -1) < 0)
		return -EUSERS;
	snprintf(p, sizeof(p), "%s%s/%s", root, pdir, uuid);
	if (mkdir(p, 0755) < 0)
		return -errno;
	snprintf(t, sizeof(t), "../mdev_supported_types/%s", type);   /* relative, as sysfs */
	snprintf(p, sizeof(p), "%s%s/%s/mdev_type", root, pdir, uuid);
	if (symlink(t, p) < 0)
		return -errno;
	snprintf(p, sizeof(p), "%s%s/%s/remove", root, pdir, uuid);
	FILE *f = fopen(p, "w");
	if (f)
		fclose(f);
	snprintf(t, sizeof(t), "../../../..%s/%s", pdir, uuid);
	snprintf(p, sizeof(p), "%s/sys/bus/mdev/devices", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/sys/bus/mdev/devices/%s", root, uuid);
	return symlink(t, p) < 0 ? -errno : 0;
}

static int do_remove(const char *root, const char *uuid)
{
	char dir[PATH_MAX], type[PATH_MAX], p[PATH_MAX * 3], rel[128];
	if (fk_fault_now(FK_MDEV_REMOVE_HANGS)) {
		sleep(3);   /* a VFIO user holds it: the timeout kills the writer first */
		return -EINTR;
	}
	snprintf(rel, sizeof(rel), "sys/bus/mdev/devices/%s", uuid);
	if (in_root(root, rel, dir, sizeof(dir)) < 0)
		return -ENODEV;
	snprintf(p, sizeof(p), "%s%s/mdev_type", root, dir);
	if (!realpath(p, type))
		return -ENODEV;
	unlink(p);
	snprintf(p, sizeof(p), "%s%s/remove", root, dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s%s", root, dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	unlink(p);
	snprintf(p, sizeof(p), "%s/available_instances", type);
	counter_add(p, +1);
	return 0;
}

static int do_vgpu(const char *root, const char *vf, const char *data)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/%s/nvidia/current_vgpu_type", root, vf);
	FILE *f = fopen(p, "w");
	if (!f)
		return -ENOENT;
	fprintf(f, "%s\n", data);
	fclose(f);
	return 0;
}

int fk_mdev_write(const char *root, const char *path, const char *data)
{
	char parent[64], type[96], uuid[64], attr[32], vf[32];
	if (sscanf(path, "sys/class/mdev_bus/%63[^/]/mdev_supported_types/%95[^/]/%31s", parent,
	           type, attr) == 3 && strcmp(attr, "create") == 0)
		return do_create(root, parent, type, data);
	if (sscanf(path, "sys/bus/mdev/devices/%63[^/]/%31s", uuid, attr) == 2)
		return strcmp(attr, "remove") == 0 ? do_remove(root, uuid) :
		       fk_fault_now(FK_MDEV_ATTR_FAILS) ? -EINVAL : 0;   /* attributes: accepted */
	if (sscanf(path, "sys/bus/pci/devices/%31[^/]/nvidia/%31s", vf, attr) == 2 &&
	    strcmp(attr, "current_vgpu_type") == 0)
		return do_vgpu(root, vf, data);
	return -ENOSYS;   /* not an mdev attribute */
}
