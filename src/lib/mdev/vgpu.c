/* NVIDIA's VF vGPU layout (vGPU 17+, kernel >= 6.8): no mdev; each VF of the GPU carries
 * nvidia/creatable_vgpu_types ("ID : vGPU Name" then "1145  : NVIDIA L40S-1B" lines,
 * only what fits now) and nvidia/current_vgpu_type (0: none). Writing an id creates the
 * vGPU, 0 removes it. The VF stays on the nvidia driver, which is its VFIO driver. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "mdev.h"
#include "util/error.h"

bool mdev_vf_layout(const char *parent)
{
	char path[192];
	snprintf(path, sizeof(path), MDEV_BUS "/%s", parent);
	if (dp_fs_exists(path))
		return false;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/nvidia/creatable_vgpu_types", parent);
	return dp_fs_exists(path);
}

int mdev_vf_current(const char *vf, unsigned *id)
{
	char path[192], buf[32], *end;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/nvidia/current_vgpu_type", vf);
	int r = dp_fs_read_line(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	unsigned long v = strtoul(buf, &end, 10);
	if (end == buf || *end || v > 0xffffffffUL)
		return -EINVAL;
	*id = (unsigned)v;
	return 0;
}

int mdev_vf_type_id(const char *type, unsigned *id)
{
	char *end;
	if (strncmp(type, "nvidia-", 7) != 0 || !isdigit((unsigned char)type[7]))
		return -EINVAL;
	unsigned long v = strtoul(type + 7, &end, 10);
	if (*end || v == 0 || v > 0xffffffffUL)
		return -EINVAL;
	*id = (unsigned)v;
	return 0;
}

static int vf_type_add(struct dp_mdev_type_list *out, const char *vf, unsigned id,
                       const char *name, bool free_vf)
{
	if (dp_array_grow(&out->t, out->n, 1, sizeof(*out->t)) < 0)
		return dp_oom();
	struct dp_mdev_type *t = &out->t[out->n++];
	memset(t, 0, sizeof(*t));
	snprintf(t->parent, sizeof(t->parent), "%s", vf);
	snprintf(t->type, sizeof(t->type), "nvidia-%u", id);
	snprintf(t->device_api, sizeof(t->device_api), "vfio-pci");
	/* one vGPU per VF: the list shows what fits now, and a VF holding one has no room */
	t->available = free_vf ? 1 : 0;
	t->name = strdup(name);
	t->description = strdup("");
	return t->name && t->description ? 0 : dp_oom();
}

/* "1145  : NVIDIA L40S-1B" -> 1145, "NVIDIA L40S-1B"; false for the header and junk */
static bool vf_type_line(char *line, unsigned *id, const char **name)
{
	char *colon = strchr(line, ':'), *end;
	if (!colon || !isdigit((unsigned char)line[0]))
		return false;
	unsigned long v = strtoul(line, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end != colon || v == 0 || v > 0xffffffffUL)
		return false;
	char *n = colon + 1;
	while (*n == ' ' || *n == '\t')
		n++;
	n[strcspn(n, "\r\n")] = '\0';
	*id = (unsigned)v;
	*name = n;
	return true;
}

int mdev_vf_types_read(const char *vf, struct dp_mdev_type_list *out)
{
	char path[192];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/nvidia/creatable_vgpu_types", vf);
	int r = dp_fs_read_all(path, &text, NULL);
	if (r < 0)
		return dp_error_set(r, "cannot read /%s: %s", path, strerror(-r));
	unsigned current = 0;
	if ((r = mdev_vf_current(vf, &current)) < 0)
		return dp_error_set(r, "cannot read the vGPU type of %s: %s", vf, strerror(-r));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned id;
		const char *name;
		if (vf_type_line(line, &id, &name) && (r = vf_type_add(out, vf, id, name, !current)) < 0)
			return r;
	}
	return 0;
}

int mdev_vf_parents(struct dp_strv *out)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir(PCI_DEVICES);
	if (!d)
		return errno == ENOENT ? 0 : dp_error_set(-errno, "cannot list /%s", PCI_DEVICES);
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && mdev_vf_layout(de->d_name) &&
		    dp_strv_add(out, de->d_name) < 0)
			return dp_oom();
	for (size_t i = 1; i < out->n; i++)   /* insertion sort: a GPU has tens of VFs */
		for (size_t j = i; j > 0 && strcmp(out->v[j - 1], out->v[j]) > 0; j--) {
			char *tmp = out->v[j];
			out->v[j] = out->v[j - 1];
			out->v[j - 1] = tmp;
		}
	return 0;
}

static bool vf_offers(const char *vf, unsigned id)
{
	_cleanup_(dp_mdev_type_list_freep) struct dp_mdev_type_list l = {0};
	if (mdev_vf_types_read(vf, &l) < 0)
		return false;
	for (size_t i = 0; i < l.n; i++) {
		unsigned have;
		if (mdev_vf_type_id(l.t[i].type, &have) == 0 && have == id)
			return true;
	}
	return false;
}

int mdev_vf_create(const char *vf, const char *type, char uuid_out[37])
{
	unsigned id, current = 0;
	char path[192], data[16];
	if (mdev_vf_type_id(type, &id) < 0)
		return dp_error_set_remedy(-ENOENT, DP_REMEDY_PARAMETER, "type", "%s has NVIDIA's VF "
		                           "vGPU layout, whose types are nvidia-<id>: '%s' is not one",
		                           vf, type);
	int r = mdev_vf_current(vf, &current);
	if (r < 0)
		return dp_error_set(r, "cannot read the vGPU type of %s: %s", vf, strerror(-r));
	if (current)
		return dp_error_set_remedy(-EEXIST, DP_REMEDY_SHOW_DEVICE, vf, "VF %s already holds "
		                           "vGPU type nvidia-%u (one vGPU per VF): remove it first",
		                           vf, current);
	if (!vf_offers(vf, id))
		return dp_error_set(-EUSERS, "VF %s cannot take vGPU type %s now (not in its "
		                    "nvidia/creatable_vgpu_types: the GPU has no room left for it, or "
		                    "the GPU does not offer it)", vf, type);
	if ((r = dp_fs_require_kernel()) < 0)
		return r;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/nvidia/current_vgpu_type", vf);
	snprintf(data, sizeof(data), "%u", id);
	if ((r = dp_fs_write(path, data, 0)) < 0)
		return dp_error_set(r, "the nvidia driver refused vGPU type %s on VF %s: %s", type, vf,
		                    strerror(-r));
	snprintf(uuid_out, 37, "%s", vf);
	return 0;
}

int mdev_vf_remove(const char *vf, int timeout_ms)
{
	char path[192];
	unsigned current = 0;
	int r = mdev_vf_current(vf, &current);
	if (r < 0 || !current)
		return dp_error_set_remedy(-ENOENT, DP_REMEDY_LIST_DEVICES, vf, "VF %s holds no vGPU",
		                           vf);
	if ((r = dp_fs_require_kernel()) < 0)
		return r;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/nvidia/current_vgpu_type", vf);
	/* just after QEMU exits the driver may still refuse with EPERM for a moment */
	for (int tries = 0; tries < 5; tries++) {
		if ((r = dp_fs_write(path, "0", timeout_ms)) != -EPERM)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
	}
	if (r == -ETIMEDOUT || r == -EPERM)
		return dp_error_set_remedy(-EBUSY, DP_REMEDY_SHOW_DEVICE, vf, "the vGPU on VF %s is "
		                           "in use (a VFIO user such as QEMU holds it): stop that user "
		                           "first", vf);
	if (r < 0)
		return dp_error_set(r, "cannot clear the vGPU type of VF %s: %s", vf, strerror(-r));
	return 0;
}
