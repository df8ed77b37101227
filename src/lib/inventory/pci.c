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
#include <sched.h>
#include <sched.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "fs/sysroot.h"
#include "alloc-util.h"
#include "inventory/inventory.h"
#include "util/strutil.h"
#include "util/error.h"

#define PCI_DEVICES "sys/bus/pci/devices"

static unsigned long hex_value(const char *s)
{
	return strtoul(s, NULL, 16);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly `digits` hex digits after `tag` at *p; advances *p past them. */
static bool fixed_hex(const char **p, const char *tag, int digits, unsigned *out)
{
	size_t tl = strlen(tag);
	if (strncmp(*p, tag, tl) != 0)
		return false;
	const char *q = *p + tl;
	unsigned v = 0;
	for (int i = 0; i < digits; i++) {
		int d = hex_digit(q[i]);
		if (d < 0)
			return false;
		v = v << 4 | (unsigned)d;
	}
	*p = q + digits;
	*out = v;
	return true;
}

/* The kernel's own layout, "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", parsed
 * without scanf (it runs for every function); anything else goes through sscanf. */
static bool modalias_fields(const char *text, unsigned f[7])
{
	static const struct { const char *tag; int digits; } layout[7] = {
		{"pci:v", 8}, {"d", 8}, {"sv", 8}, {"sd", 8}, {"bc", 2}, {"sc", 2}, {"i", 2}};
	const char *p = text;
	bool ok = true;
	for (int i = 0; i < 7 && ok; i++)
		ok = fixed_hex(&p, layout[i].tag, layout[i].digits, &f[i]);
	if (ok && *p == '\0')
		return true;
	return sscanf(text, "pci:v%8Xd%8Xsv%8Xsd%8Xbc%2Xsc%2Xi%2X", &f[0], &f[1], &f[2], &f[3],
	              &f[4], &f[5], &f[6]) == 7;
}

/* "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00": 1 when applied, 0 when the
 * text is not one, -ENOMEM. */
static int modalias_apply(struct dp_pci_device *dev, const char *text)
{
	unsigned f[7];
	if (!modalias_fields(text, f))
		return 0;
	dev->vendor = (uint16_t)f[0];
	dev->device = (uint16_t)f[1];
	dev->subsys_vendor = (uint16_t)f[2];
	dev->subsys_device = (uint16_t)f[3];
	dev->class_code = f[4] << 16 | f[5] << 8 | f[6];
	return (dev->modalias = strdup(text)) ? 1 : -ENOMEM;
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
	char name[DP_ADDR_LEN];
	size_t len = (size_t)(last - prev);
	if (len >= sizeof(name))
		return;
	memcpy(name, prev, len);
	name[len] = '\0';
	if (dp_pci_addr_is_valid_name(name))
		memcpy(dev->parent, name, len + 1);
}

/* Functions below one bridge are read one after another (SR-IOV VFs: hundreds), so the
 * bridge's directory is opened once and each attribute is read as "ADDR/attr" beneath it.
 * Every function on a bus sits in the same directory (VFs beside their PF), so the next
 * function on the bus of the last one is first looked for there: when its modalias opens,
 * the bus's link to it need not be read. */
struct parent_cache {
	char path[PATH_MAX];
	int fd;
	bool have_bus;
	unsigned domain, bus;    /* of the last function found beneath path */
	struct dp_fs_batch batch;   /* attribute files read, closed together */
};

static int parent_dir_get(struct parent_cache *pc, const char *path, size_t plen)
{
	if (pc->fd >= 0 && strncmp(pc->path, path, plen) == 0 && pc->path[plen] == '\0')
		return pc->fd;
	dp_fs_dir_close(pc->fd);
	memcpy(pc->path, path, plen);
	pc->path[plen] = '\0';
	pc->fd = dp_fs_dir_open(pc->path);
	pc->have_bus = false;
	return pc->fd;
}

static bool parent_guess(const struct parent_cache *pc, const struct dp_pci_device *dev)
{
	return pc->fd >= 0 && pc->have_bus && pc->domain == dev->addr.domain &&
	       pc->bus == dev->addr.bus;
}

static void parent_bus_remember(struct parent_cache *pc, const struct dp_pci_device *dev)
{
	pc->have_bus = true;
	pc->domain = dev->addr.domain;
	pc->bus = dev->addr.bus;
}

/* One attribute of the function: "0000:04:00.2/modalias" beneath its bridge */
struct attr_reader {
	int dirfd;
	const char *name;
	struct dp_fs_batch *batch;
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
	return dp_fs_dir_read_line_deferred(ar->batch, ar->dirfd, rel, buf, size);
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

/* Where the function's directory is, from the bus's link to it. */
static void device_locate(const struct dp_pci_device *dev, int devices_fd, char *path, size_t size)
{
	char target[PATH_MAX];
	if (dp_fs_dir_readlink(devices_fd, dev->address, target, sizeof(target)) > 0)
		dp_path_join(path, size, PCI_DEVICES, target);
	else
		snprintf(path, size, PCI_DEVICES "/%s", dev->address);
}

/* Finds the function's directory (path) and its parent (ar), reading the modalias on the
 * way: *len is what the read gave (below 0: none). Fails when the function is gone. */
static int device_find(struct dp_pci_device *dev, int devices_fd, struct parent_cache *pc,
                       struct attr_reader *ar, char *path, char *buf, size_t size, int *len)
{
	if (parent_guess(pc, dev)) {
		*ar = (struct attr_reader){pc->fd, dev->address, &pc->batch};
		size_t plen = strlen(pc->path), alen = strlen(dev->address);
		if (plen + alen + 2 <= PATH_MAX &&
		    (*len = attr_line(ar, "modalias", buf, size)) >= 0) {
			memcpy(path, pc->path, plen);
			path[plen] = '/';
			memcpy(path + plen + 1, dev->address, alen + 1);
			return 0;
		}
	}
	device_locate(dev, devices_fd, path, PATH_MAX);
	const char *slash = strrchr(path, '/');
	*ar = (struct attr_reader){parent_dir_get(pc, path, (size_t)(slash - path)), slash + 1,
	                            &pc->batch};
	if (ar->dirfd < 0)
		return dp_error_set(ar->dirfd, "cannot open /%s: %s", path, strerror(-ar->dirfd));
	*len = attr_line(ar, "modalias", buf, size);
	if (*len == -ENOENT && !dp_fs_exists(path))
		return dp_error_set(-ENOENT, "/%s disappeared", path);
	return 0;
}

static int device_read(struct dp_pci_device *dev, int devices_fd, struct parent_cache *pc)
{
	char path[PATH_MAX], buf[4096];
	struct attr_reader ar;
	int n = -ENOENT, r = device_find(dev, devices_fd, pc, &ar, path, buf, sizeof(buf), &n);
	dev->iommu_group = DP_NO_GROUP;
	dev->numa_node = DP_NO_NUMA;
	if (r < 0)
		return r;
	parent_bus_remember(pc, dev);
	if (!(dev->sysfs_path = strdup(path)))
		return dp_error_set(-ENOMEM, "out of memory reading %s", dev->address);
	parent_from_path(dev);
	int applied = n > 0 ? modalias_apply(dev, buf) : 0;
	if (applied < 0)
		return -ENOMEM;
	if (!applied)
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
	int *err;   /* each function's: 0 when read */
};

static void scan_range(struct scan_job *job)
{
	struct parent_cache pc = {.fd = -1};
	for (size_t i = job->begin; i < job->end; i++)
		job->err[i] = device_read(&job->dev[i], job->devices_fd, &pc);
	dp_fs_batch_close(&pc.batch);
	dp_fs_dir_close(pc.fd);
}

/* A worker thread takes a descriptor table of its own: the attribute files it opens then
 * get consecutive numbers that close in one close_range (see dp_fs_batch), and opens and
 * closes on two cores stop contending for one table. It only reads through descriptors
 * the process had before (the root, the bus directory) and closes all it opens, so
 * nothing it leaves behind is missing from the main thread's table. */
static void *scan_thread(void *arg)
{
	unshare(CLONE_FILES);   /* if refused, the shared table only costs speed */
	scan_range(arg);
	return NULL;
}

/* Reading sysfs is system-call bound: large hosts are read on every core, in address
 * order so that each worker walks whole bridges. */
static void scan_parallel(struct dp_pci_device *dev, size_t n, int devices_fd, int *err)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t workers = n < 512 || cpus < 2 ? 1 : (size_t)(cpus > 8 ? 8 : cpus);
	struct scan_job jobs[8];
	pthread_t threads[8];
	bool started[8] = {false};
	for (size_t w = 0; w < workers; w++) {
		jobs[w] = (struct scan_job){dev, n * w / workers, n * (w + 1) / workers, devices_fd, err};
		started[w] = w > 0 && pthread_create(&threads[w], NULL, scan_thread, &jobs[w]) == 0;
		if (w > 0 && !started[w])
			scan_range(&jobs[w]);
	}
	scan_range(&jobs[0]);
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

/* /dev/vfio/N nodes, read once as a bitmap instead of a stat per device. -ENOMEM. */
static int vfio_nodes_mark(struct dp_pci_list *list)
{
	size_t max = 0;
	for (size_t i = 0; i < list->n; i++)
		if (list->dev[i].iommu_group >= 0 && (size_t)list->dev[i].iommu_group + 1 > max)
			max = (size_t)list->dev[i].iommu_group + 1;
	_cleanup_closedir_ DIR *d = dp_fs_opendir("dev/vfio");
	if (!d || !max)
		return 0;
	_cleanup_free_ bool *present = calloc(max, sizeof(bool));
	if (!present)
		return -ENOMEM;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long g = strtol(de->d_name, &end, 10);
		if (*end == '\0' && end != de->d_name && g >= 0 && (size_t)g < max)
			present[g] = true;
	}
	for (size_t i = 0; i < list->n; i++)
		if (list->dev[i].iommu_group >= 0)
			list->dev[i].vfio_node = present[list->dev[i].iommu_group];
	return 0;
}

int dp_pci_scan(struct dp_pci_list *out)
{
	return dp_pci_scan_flags(out, DP_SCAN_NAMES);
}

/* The functions the bus lists, in address order: sorted as small records keyed by one
 * integer before the (large) device records are made. */
struct scan_entry {
	uint64_t key;
	struct dp_pci_addr addr;
	char name[DP_ADDR_LEN];
};

static int entry_compare(const void *a, const void *b)
{
	uint64_t x = ((const struct scan_entry *)a)->key, y = ((const struct scan_entry *)b)->key;
	return x < y ? -1 : x > y;
}

static int entries_read(DIR *d, struct scan_entry **out, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	*n = 0;
	while ((de = readdir(d))) {
		struct dp_pci_addr a;
		if (!dp_pci_addr_is_valid_name(de->d_name) || dp_pci_addr_parse(de->d_name, &a) < 0)
			continue;
		if (*n == cap && dp_array_grow(out, cap, cap ? cap : 256, sizeof(**out)) < 0)
			return -ENOMEM;
		if (*n == cap)
			cap += cap ? cap : 256;
		struct scan_entry *e = &(*out)[(*n)++];
		e->key = (uint64_t)a.domain << 32 | a.bus << 16 | a.slot << 8 | a.func;
		e->addr = a;
		memcpy(e->name, de->d_name, strlen(de->d_name) + 1);   /* valid names fit */
	}
	qsort(*out, *n, sizeof(**out), entry_compare);
	return 0;
}

static int devices_make(DIR *d, struct dp_pci_list *out)
{
	_cleanup_free_ struct scan_entry *entries = NULL;
	size_t n;
	if (entries_read(d, &entries, &n) < 0 || !(out->dev = calloc(n + 1, sizeof(*out->dev))))
		return dp_error_set(-ENOMEM, "out of memory listing %zu PCI functions", n);
	for (size_t i = 0; i < n; i++) {
		memcpy(out->dev[i].address, entries[i].name, sizeof(entries[i].name));
		out->dev[i].addr = entries[i].addr;
	}
	out->n = n;
	return 0;
}

/* a function removed while we read (hot unplug, VF teardown) is left out */
static void failed_drop(struct dp_pci_list *list, const int *err)
{
	size_t kept = 0;
	for (size_t i = 0; i < list->n; i++) {
		if (err[i] < 0)
			device_release(&list->dev[i]);
		else
			list->dev[kept++] = list->dev[i];
	}
	list->n = kept;
}

int dp_pci_scan_flags(struct dp_pci_list *out, unsigned flags)
{
	*out = (struct dp_pci_list){0};
	_cleanup_closedir_ DIR *d = dp_fs_opendir(PCI_DEVICES);
	if (!d)
		return dp_error_set(-errno, "cannot read %s/%s: %s (is sysfs mounted?)",
		                    dp_root_is_host() ? "" : dp_root_path(), PCI_DEVICES,
		                    strerror(errno));
	int r = devices_make(d, out);
	_cleanup_free_ int *err = r < 0 ? NULL : calloc(out->n + 1, sizeof(int));
	if (r < 0 || !err) {
		dp_pci_list_free(out);
		return r < 0 ? r : dp_error_set(-ENOMEM, "out of memory reading PCI functions");
	}
	scan_parallel(out->dev, out->n, dirfd(d), err);
	bool out_of_memory = false;
	for (size_t i = 0; i < out->n; i++)
		out_of_memory |= err[i] == -ENOMEM;
	failed_drop(out, err);
	if (out_of_memory || vfio_nodes_mark(out) < 0) {
		dp_pci_list_free(out);
		return dp_error_set(-ENOMEM, "out of memory reading PCI functions");
	}
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
		return dp_error_set_remedy(-ENODEV, DP_REMEDY_LIST_DEVICES, full, "no PCI device %s on "
		                           "this host", full);
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
