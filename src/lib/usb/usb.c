/* The USB devices of /sys/bus/usb/devices: each device's descriptor attributes, its
 * interfaces and their drivers, the host controller it hangs off, whether a process
 * holds it and whether the host needs it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/sysroot.h"
#include "usb/usb.h"
#include "alloc-util.h"

#define USB_DEVICES "sys/bus/usb/devices"

/* A device as found, with the sysfs directory it was read from (for the interfaces
 * and the host-critical detection), until the list is sorted. */
struct found {
	struct dp_usb_device d;
	char *sysdir;
};

struct scan {
	struct found *f;
	size_t n, cap;
	struct usb_names *names;
};

static void device_clear(struct dp_usb_device *d)
{
	free(d->vendor);
	free(d->product);
	free(d->ifs);
	free(d->critical_reason);
}

void dp_usb_list_free(struct dp_usb_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++)
		device_clear(&list->d[i]);
	free(list->d);
	list->d = NULL;
	list->n = 0;
}

static void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		device_clear(&s->f[i].d);
		free(s->f[i].sysdir);
	}
	free(s->f);
	usb_names_close(s->names);
}

/* ---- one device ------------------------------------------------------------------ */

static uint16_t read_hex16(int dirfd, const char *name)
{
	char buf[16];
	if (dp_fs_dir_read_line(dirfd, name, buf, sizeof(buf)) <= 0)
		return 0;
	return (uint16_t)strtoul(buf, NULL, 16);
}

static uint8_t read_hex8(int dirfd, const char *name)
{
	char buf[8];
	uint8_t v = 0;
	if (dp_fs_dir_read_line(dirfd, name, buf, sizeof(buf)) > 0)
		usb_hex_byte(buf, &v);
	return v;
}

static int interface_add(struct dp_usb_device *d, const char *sysdir, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", sysdir, name);
	int fd = dp_fs_dir_open(path);
	if (fd < 0)
		return 0;   /* gone meanwhile */
	struct dp_usb_interface *ifs = realloc(d->ifs, (d->nifs + 1) * sizeof(*ifs));
	if (!ifs) {
		dp_fs_dir_close(fd);
		return -ENOMEM;
	}
	d->ifs = ifs;
	struct dp_usb_interface *it = &ifs[d->nifs++];
	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->cls = read_hex8(fd, "bInterfaceClass");
	it->subclass = read_hex8(fd, "bInterfaceSubClass");
	it->protocol = read_hex8(fd, "bInterfaceProtocol");
	if (dp_fs_dir_readlink_name(fd, "driver", it->driver, sizeof(it->driver)) < 0)
		it->driver[0] = '\0';
	dp_fs_dir_close(fd);
	return 0;
}

static int compare_interfaces(const void *a, const void *b)
{
	return strcmp(((const struct dp_usb_interface *)a)->name, ((const struct dp_usb_interface *)b)->name);
}

/* The interfaces "NAME:C.I" beside the device's attributes ("N-0:C.I" for root hub usbN) */
static int interfaces_read(struct dp_usb_device *d, const char *sysdir, const char *name)
{
	char prefix[48];
	if (strcmp(d->devpath, "0") == 0)
		snprintf(prefix, sizeof(prefix), "%d-0:", d->busnum);
	else
		snprintf(prefix, sizeof(prefix), "%s:", name);
	_cleanup_closedir_ DIR *dir = dp_fs_opendir(sysdir);
	struct dirent *de;
	int bus;
	char devpath[32];
	while (dir && (de = readdir(dir)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    usb_name_parse(de->d_name, &bus, devpath, sizeof(devpath)) == USB_NAME_INTERFACE &&
		    interface_add(d, sysdir, de->d_name) < 0)
			return -ENOMEM;
	if (d->nifs > 1)
		qsort(d->ifs, d->nifs, sizeof(*d->ifs), compare_interfaces);
	return 0;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The first ancestor that is a PCI function; else the device the root hub hangs off
 * (a platform controller: dummy_hcd.0, vhci_hcd.0). */
static void controller_find(struct dp_usb_device *d, const char *sysdir)
{
	char path[PATH_MAX], link[PATH_MAX], subsystem[32];
	snprintf(path, sizeof(path), "%s", sysdir);
	bool below_root_hub = false;
	char *slash;
	while ((slash = strrchr(path, '/')) && strchr(path, '/') != slash) {
		int bus;
		char devpath[32];
		bool root_hub = usb_name_parse(slash + 1, &bus, devpath, sizeof(devpath)) == USB_NAME_ROOT_HUB;
		*slash = '\0';
		if (root_hub && !below_root_hub) {
			below_root_hub = true;
			snprintf(d->controller, sizeof(d->controller), "%s", basename_of(path));
		}
		snprintf(link, sizeof(link), "%s/subsystem", path);
		if (below_root_hub && dp_fs_readlink_name(link, subsystem, sizeof(subsystem)) > 0 &&
		    strcmp(subsystem, "pci") == 0) {
			snprintf(d->controller, sizeof(d->controller), "%s", basename_of(path));
			d->controller_pci = true;
			return;
		}
	}
}

/* The hwdb's names, else the device's own strings */
static int names_read(struct scan *s, struct dp_usb_device *d, int fd)
{
	int r = usb_names_lookup(s->names, d->vendor_id, d->product_id, &d->vendor, &d->product);
	if (r < 0)
		return r;
	char buf[256];
	if (!d->vendor[0] && dp_fs_dir_read_line(fd, "manufacturer", buf, sizeof(buf)) > 0) {
		free(d->vendor);
		if (!(d->vendor = strdup(buf)))
			return -ENOMEM;
	}
	if (!d->product[0] && dp_fs_dir_read_line(fd, "product", buf, sizeof(buf)) > 0) {
		free(d->product);
		if (!(d->product = strdup(buf)))
			return -ENOMEM;
	}
	return 0;
}

static void attributes_read(struct dp_usb_device *d, int fd)
{
	char buf[32];
	d->vendor_id = read_hex16(fd, "idVendor");
	d->product_id = read_hex16(fd, "idProduct");
	if (dp_fs_dir_read_line(fd, "devnum", buf, sizeof(buf)) > 0)
		d->devnum = atoi(buf);
	d->has_serial = dp_fs_dir_read_line(fd, "serial", d->serial, sizeof(d->serial)) > 0;
	if (!d->has_serial)
		d->serial[0] = '\0';
	if (dp_fs_dir_read_line(fd, "speed", d->speed, sizeof(d->speed)) <= 0)
		d->speed[0] = '\0';
	d->cls = read_hex8(fd, "bDeviceClass");
	d->subclass = read_hex8(fd, "bDeviceSubClass");
	d->protocol = read_hex8(fd, "bDeviceProtocol");
	d->hub = d->cls == 0x09;
}

static int device_read(struct scan *s, struct found *f, const char *name)
{
	struct dp_usb_device *d = &f->d;
	int fd = dp_fs_dir_open(f->sysdir);
	if (fd < 0)
		return fd;
	attributes_read(d, fd);
	int r = names_read(s, d, fd);
	dp_fs_dir_close(fd);
	if (r == 0)
		r = interfaces_read(d, f->sysdir, name);
	for (size_t i = 0; i < d->nifs; i++)
		if (strcmp(d->ifs[i].driver, "usbfs") == 0) {
			d->in_use = true;
			snprintf(d->in_use_by, sizeof(d->in_use_by), "usbfs");
		}
	controller_find(d, f->sysdir);
	return r;
}

static int found_add(struct scan *s, const char *name, int busnum, const char *devpath)
{
	char link[PATH_MAX], sysdir[PATH_MAX];
	snprintf(link, sizeof(link), USB_DEVICES "/%s", name);
	if (dp_fs_resolve(link, sysdir, sizeof(sysdir)) < 0)
		return 0;   /* unplugged meanwhile */
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct found *f = realloc(s->f, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		s->f = f;
		s->cap = cap;
	}
	struct found *f = &s->f[s->n];
	memset(f, 0, sizeof(*f));
	if (!(f->sysdir = strdup(sysdir)))
		return -ENOMEM;
	s->n++;
	snprintf(f->d.location, sizeof(f->d.location), "%s", name);
	snprintf(f->d.devpath, sizeof(f->d.devpath), "%s", devpath);
	f->d.busnum = busnum;
	int r = device_read(s, f, name);
	if (r == -ENOENT || r == -ENOTDIR) {   /* gone between the listing and the read */
		device_clear(&f->d);
		free(f->sysdir);
		s->n--;
		return 0;
	}
	return r;
}

static int compare_found(const void *a, const void *b)
{
	const struct dp_usb_device *x = &((const struct found *)a)->d, *y = &((const struct found *)b)->d;
	return usb_location_compare(x->busnum, x->devpath, y->busnum, y->devpath);
}

static int devices_list(struct scan *s, unsigned flags)
{
	_cleanup_closedir_ DIR *dir = dp_fs_opendir(USB_DEVICES);
	if (!dir)
		return errno == ENOENT ? 0 : dp_error_set(-errno, "cannot read %s: %s", USB_DEVICES, strerror(errno));
	struct dirent *de;
	while ((de = readdir(dir))) {
		int bus;
		char devpath[32];
		enum usb_name_kind kind = usb_name_parse(de->d_name, &bus, devpath, sizeof(devpath));
		if (kind != USB_NAME_DEVICE && !(kind == USB_NAME_ROOT_HUB && (flags & DP_USB_SCAN_ROOT_HUBS)))
			continue;
		int r = found_add(s, de->d_name, bus, devpath);
		if (r < 0)
			return r == -ENOMEM ? dp_error_set(r, "cannot list the USB devices: out of memory")
			                    : dp_error_set(r, "cannot read USB device %s: %s", de->d_name, strerror(-r));
	}
	return 0;
}

/* The sorted devices move into out; their directories stay in s for the detection. */
static int list_build(struct scan *s, struct dp_usb_list *out, char ***sysdirs)
{
	qsort(s->f, s->n, sizeof(*s->f), compare_found);
	out->d = calloc(s->n ? s->n : 1, sizeof(*out->d));
	*sysdirs = calloc(s->n ? s->n : 1, sizeof(**sysdirs));
	if (!out->d || !*sysdirs) {
		free(out->d);
		out->d = NULL;
		return dp_error_set(-ENOMEM, "cannot list the USB devices: out of memory");
	}
	for (size_t i = 0; i < s->n; i++) {
		out->d[i] = s->f[i].d;
		(*sysdirs)[i] = s->f[i].sysdir;
	}
	out->n = s->n;
	s->n = 0;   /* the devices are out's now */
	return 0;
}

int dp_usb_scan(struct dp_usb_list *out, unsigned flags)
{
	*out = (struct dp_usb_list){0};
	struct scan s = {.names = usb_names_open()};
	int r = devices_list(&s, flags);
	char **sysdirs = NULL;
	size_t n = s.n;
	if (r == 0)
		r = list_build(&s, out, &sysdirs);
	if (r == 0)
		r = usb_critical_mark(out, sysdirs);
	for (size_t i = 0; sysdirs && i < n; i++)
		free(sysdirs[i]);
	free(sysdirs);
	if (r < 0)
		dp_usb_list_free(out);
	scan_free(&s);
	return r;
}

/* ---- lookup ---------------------------------------------------------------------- */

static int lookup_location(const struct dp_usb_list *list, const char *text, struct dp_usb_device **out)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->d[i].location, text) == 0) {
			*out = &list->d[i];
			return 0;
		}
	return dp_error_set(-ENOENT, "no USB device at %s", text);
}

static int lookup_id(const struct dp_usb_list *list, const char *text, uint16_t vid, uint16_t pid,
                     const char *serial, struct dp_usb_device **out)
{
	struct dp_usb_device *match = NULL;
	size_t n = 0;
	for (size_t i = 0; i < list->n; i++) {
		struct dp_usb_device *d = &list->d[i];
		if (d->vendor_id != vid || d->product_id != pid ||
		    (serial && (!d->has_serial || strcmp(d->serial, serial) != 0)))
			continue;
		if (n++ == 0)
			match = d;
	}
	if (n == 0)
		return dp_error_set(-ENOENT, "no USB device %s", text);
	if (n > 1)
		return dp_error_set(-EEXIST, "%zu USB devices are %04x:%04x (%s and others): name one by "
		                    "its location or serial", n, vid, pid, match->location);
	*out = match;
	return 0;
}

int dp_usb_lookup(const struct dp_usb_list *list, const char *text, struct dp_usb_device **out)
{
	int bus;
	char devpath[32];
	uint16_t vid, pid;
	const char *serial;
	enum usb_name_kind kind = usb_name_parse(text, &bus, devpath, sizeof(devpath));
	if (kind == USB_NAME_DEVICE || kind == USB_NAME_ROOT_HUB)
		return lookup_location(list, text, out);
	if (kind != USB_NAME_INTERFACE && usb_id_parse(text, &vid, &pid, &serial))
		return lookup_id(list, text, vid, pid, serial, out);
	return dp_error_set(-EINVAL, "'%s' is not a USB location (bus-port path such as 3-1.2) nor "
	                    "an id (vendor:product[:serial] in hex, such as 1d6b:0104)", text);
}
