/* The PCI inventory: one record per function, read from sysfs through the gateway.
 * Per function it reads the device link, modalias (ids, subsystem ids and class in one
 * read), the driver link, revision, numa_node and the iommu_group link: the fewest reads
 * that give the whole `list` record.
 *
 * Not uevent, although it also names the driver: the kernel takes the device lock to
 * show it, so reading it blocks behind a driver unbind that hangs, which is just when
 * someone runs devpass to see why. None of the attributes read here take that lock. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "fs/sysroot.h"
#include "inventory/inventory.h"
#include "util/strutil.h"

#define PCI_DEVICES "sys/bus/pci/devices"

static unsigned long hex_value(const char *s)
{
	return strtoul(s, NULL, 16);
}

/* "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00" */
static bool modalias_apply(struct dp_pci_device *dev, const char *text)
{
	unsigned v, d, sv, sd, bc, sc, pi;
	if (sscanf(text, "pci:v%8Xd%8Xsv%8Xsd%8Xbc%2Xsc%2Xi%2X", &v, &d, &sv, &sd, &bc, &sc, &pi) != 7)
		return false;
	dev->vendor = (uint16_t)v;
	dev->device = (uint16_t)d;
	dev->subsys_vendor = (uint16_t)sv;
	dev->subsys_device = (uint16_t)sd;
	dev->class_code = bc << 16 | sc << 8 | pi;
	dev->modalias = strdup(text);
	return true;
}

static void parent_from_path(struct dp_pci_device *dev)
{
	/* ".../0000:00:1c.0/0000:01:00.0": the component before ours, if it is a function */
	const char *last = strrchr(dev->sysfs_path, '/');
	if (!last || last == dev->sysfs_path)
		return;
	const char *prev = last - 1;
	while (prev > dev->sysfs_path && *prev != '/')
		prev--;
	if (*prev == '/')
		prev++;
	char name[DP_ADDR_LEN + 1];
	size_t len = (size_t)(last - prev);
	if (len >= sizeof(name))
		return;
	memcpy(name, prev, len);
	name[len] = '\0';
	if (dp_pci_addr_is_valid_name(name))
		snprintf(dev->parent, sizeof(dev->parent), "%s", name);
}

/* Functions below one bridge are read one after another (SR-IOV VFs: hundreds), so the
 * bridge's directory is opened once and each attribute is read as "ADDR/attr" beneath it. */
struct parent_cache {
	char path[PATH_MAX];
	int fd;
};

static int parent_dir_get(struct parent_cache *pc, const char *path, size_t plen)
{
	if (pc->fd >= 0 && strncmp(pc->path, path, plen) == 0 && pc->path[plen] == '\0')
		return pc->fd;
	dp_fs_dir_close(pc->fd);
	memcpy(pc->path, path, plen);
	pc->path[plen] = '\0';
	pc->fd = dp_fs_dir_open(pc->path);
	return pc->fd;
}

/* One attribute of the function: "0000:04:00.2/modalias" beneath its bridge */
struct attr_reader {
	int dirfd;
	const char *name;
};

/* "ADDR/attr" without printf: this runs five times per function */
static void attr_path(char *rel, size_t size, const struct attr_reader *ar, const char *attr)
{
	size_t nl = strlen(ar->name), al = strlen(attr);
	if (nl + al + 2 > size) {
		rel[0] = '\0';
		return;
	}
	memcpy(rel, ar->name, nl);
	rel[nl] = '/';
	memcpy(rel + nl + 1, attr, al + 1);
}

static int attr_line(const struct attr_reader *ar, const char *attr, char *buf, size_t size)
{
	char rel[DP_ADDR_LEN + 32];
	attr_path(rel, sizeof(rel), ar, attr);
	return dp_fs_dir_read_line(ar->dirfd, rel, buf, size);
}

static int attr_link_name(const struct attr_reader *ar, const char *attr, char *buf, size_t size)
{
	char rel[DP_ADDR_LEN + 32];
	attr_path(rel, sizeof(rel), ar, attr);
	return dp_fs_dir_readlink_name(ar->dirfd, rel, buf, size);
}

static unsigned long attr_hex(const struct attr_reader *ar, const char *attr, bool *ok)
{
	char buf[64];
	*ok = attr_line(ar, attr, buf, sizeof(buf)) > 0;
	return *ok ? hex_value(buf) : 0;
}

/* A captured tree may lack modalias: read the single-value attributes instead. */
static void attrs_fallback(struct dp_pci_device *dev, const struct attr_reader *ar)
{
	bool ok;
	dev->vendor = (uint16_t)attr_hex(ar, "vendor", &ok);
	dev->device = (uint16_t)attr_hex(ar, "device", &ok);
	dev->class_code = (uint32_t)attr_hex(ar, "class", &ok);
	dev->subsys_vendor = (uint16_t)attr_hex(ar, "subsystem_vendor", &ok);
	dev->subsys_device = (uint16_t)attr_hex(ar, "subsystem_device", &ok);
}

static int device_read(struct dp_pci_device *dev, int devices_fd, struct parent_cache *pc)
{
	char path[PATH_MAX], buf[4096];
	dev->iommu_group = DP_NO_GROUP;
	dev->numa_node = DP_NO_NUMA;

	if (dp_fs_dir_readlink(devices_fd, dev->address, buf, sizeof(buf)) > 0)
		dp_path_join(path, sizeof(path), PCI_DEVICES, buf);
	else
		snprintf(path, sizeof(path), PCI_DEVICES "/%s", dev->address);
	dev->sysfs_path = strdup(path);
	parent_from_path(dev);

	const char *slash = strrchr(path, '/');
	struct attr_reader ar = {parent_dir_get(pc, path, (size_t)(slash - path)), slash + 1};
	if (ar.dirfd < 0)
		return dp_error_set(ar.dirfd, "cannot open /%s: %s", path, strerror(-ar.dirfd));
	int n = attr_line(&ar, "modalias", buf, sizeof(buf));
	if (n == -ENOENT && !dp_fs_exists(path))
		return dp_error_set(-ENOENT, "/%s disappeared", path);
	if (n <= 0 || !modalias_apply(dev, buf))
		attrs_fallback(dev, &ar);
	if (attr_link_name(&ar, "driver", dev->driver, sizeof(dev->driver)) < 0)
		dev->driver[0] = '\0';
	dev->has_subsys = dev->subsys_vendor && dev->subsys_vendor != 0xffff;

	bool ok;
	dev->revision = (uint8_t)attr_hex(&ar, "revision", &ok);
	if (attr_line(&ar, "numa_node", buf, 32) > 0 && atoi(buf) >= 0)
		dev->numa_node = atoi(buf);
	if (attr_link_name(&ar, "iommu_group", buf, 32) == 0)
		dev->iommu_group = atoi(buf);
	return 0;
}

/* ---- parallel scan ------------------------------------------------------------------ */

struct scan_job {
	struct dp_pci_device *dev;
	size_t begin, end;
	int devices_fd;
	bool *failed;
};

static void *scan_worker(void *arg)
{
	struct scan_job *job = arg;
	struct parent_cache pc = {.fd = -1};
	for (size_t i = job->begin; i < job->end; i++)
		job->failed[i] = device_read(&job->dev[i], job->devices_fd, &pc) < 0;
	dp_fs_dir_close(pc.fd);
	return NULL;
}

/* Reading sysfs is system-call bound: large hosts are read on every core, in address
 * order so that each worker walks whole bridges. */
static void scan_parallel(struct dp_pci_device *dev, size_t n, int devices_fd, bool *failed)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t workers = n < 512 || cpus < 2 ? 1 : (size_t)(cpus > 8 ? 8 : cpus);
	struct scan_job jobs[8];
	pthread_t threads[8];
	bool started[8] = {false};
	for (size_t w = 0; w < workers; w++) {
		jobs[w] = (struct scan_job){dev, n * w / workers, n * (w + 1) / workers, devices_fd, failed};
		started[w] = w > 0 && pthread_create(&threads[w], NULL, scan_worker, &jobs[w]) == 0;
		if (w > 0 && !started[w])
			scan_worker(&jobs[w]);
	}
	scan_worker(&jobs[0]);
	for (size_t w = 1; w < workers; w++)
		if (started[w])
			pthread_join(threads[w], NULL);
}

static void device_release(struct dp_pci_device *dev)
{
	free(dev->modalias);
	free(dev->sysfs_path);
	dp_strv_free(&dev->critical);
}

static int addr_compare(const void *a, const void *b)
{
	const struct dp_pci_addr *x = &((const struct dp_pci_device *)a)->addr;
	const struct dp_pci_addr *y = &((const struct dp_pci_device *)b)->addr;
	if (x->domain != y->domain)
		return x->domain < y->domain ? -1 : 1;
	if (x->bus != y->bus)
		return x->bus < y->bus ? -1 : 1;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return (int)x->func - (int)y->func;
}

/* /dev/vfio/N nodes, read once as a bitmap instead of a stat per device. */
static void vfio_nodes_mark(struct dp_pci_list *list)
{
	size_t max = 0;
	for (size_t i = 0; i < list->n; i++)
		if (list->dev[i].iommu_group >= 0 && (size_t)list->dev[i].iommu_group + 1 > max)
			max = (size_t)list->dev[i].iommu_group + 1;
	DIR *d = dp_fs_opendir("dev/vfio");
	if (!d || !max) {
		if (d)
			closedir(d);
		return;
	}
	bool *present = calloc(max, sizeof(bool));
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long g = strtol(de->d_name, &end, 10);
		if (*end == '\0' && end != de->d_name && g >= 0 && (size_t)g < max)
			present[g] = true;
	}
	closedir(d);
	for (size_t i = 0; i < list->n; i++)
		if (list->dev[i].iommu_group >= 0)
			list->dev[i].vfio_node = present[list->dev[i].iommu_group];
	free(present);
}

int dp_pci_scan(struct dp_pci_list *out)
{
	return dp_pci_scan_flags(out, DP_SCAN_NAMES);
}

int dp_pci_scan_flags(struct dp_pci_list *out, unsigned flags)
{
	DIR *d = dp_fs_opendir(PCI_DEVICES);
	if (!d)
		return dp_error_set(-errno, "cannot read %s/%s: %s (is sysfs mounted?)",
		                    dp_root_is_host() ? "" : dp_root_path(), PCI_DEVICES,
		                    strerror(errno));
	size_t cap = 64;
	out->dev = calloc(cap, sizeof(*out->dev));
	out->n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!dp_pci_addr_is_valid_name(de->d_name))
			continue;
		if (out->n == cap)
			out->dev = realloc(out->dev, (cap *= 2) * sizeof(*out->dev));
		struct dp_pci_device *dev = &out->dev[out->n++];
		memset(dev, 0, sizeof(*dev));
		snprintf(dev->address, sizeof(dev->address), "%s", de->d_name);
		dp_pci_addr_parse(de->d_name, &dev->addr);
	}
	qsort(out->dev, out->n, sizeof(*out->dev), addr_compare);
	bool *failed = calloc(out->n + 1, sizeof(bool));
	scan_parallel(out->dev, out->n, dirfd(d), failed);
	closedir(d);
	/* a function removed while we read (hot unplug, VF teardown) is left out */
	size_t kept = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (failed[i])
			device_release(&out->dev[i]);
		else
			out->dev[kept++] = out->dev[i];
	}
	out->n = kept;
	free(failed);
	vfio_nodes_mark(out);
	for (size_t i = 0; (flags & DP_SCAN_NAMES) && i < out->n; i++)
		dp_names_fill(&out->dev[i]);
	return 0;
}

void dp_pci_list_free(struct dp_pci_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		device_release(&list->dev[i]);
	free(list->dev);
	list->dev = NULL;
	list->n = 0;
}

struct dp_pci_device *dp_pci_list_find(const struct dp_pci_list *list, const char *address)
{
	struct dp_pci_device key;
	if (dp_pci_addr_parse(address, &key.addr) < 0)
		return NULL;
	return bsearch(&key, list->dev, list->n, sizeof(*list->dev), addr_compare);
}

int dp_pci_device_lookup(const struct dp_pci_list *list, const char *text,
                         struct dp_pci_device **out)
{
	struct dp_pci_addr a;
	int r = dp_pci_addr_parse(text, &a);
	if (r < 0)
		return r;
	char full[DP_ADDR_LEN];
	dp_pci_addr_format(&a, full);
	*out = dp_pci_list_find(list, full);
	if (!*out)
		return dp_error_set(-ENODEV, "no PCI device %s on this host (see 'devpass list')", full);
	return 0;
}

unsigned dp_pci_device_base_class(const struct dp_pci_device *dev)
{
	return dev->class_code >> 16;
}

/* Host bridges and PCI-to-PCI bridges (normal and subtractive decode). They stay with
 * their drivers when a group goes to a VM: pcieport does not claim DMA, so the kernel
 * still lets vfio use the group. */
bool dp_pci_device_is_bridge(const struct dp_pci_device *dev)
{
	unsigned sub = (dev->class_code >> 8) & 0xff;
	return dp_pci_device_base_class(dev) == 0x06 && (sub == 0x00 || sub == 0x04 || sub == 0x09);
}
