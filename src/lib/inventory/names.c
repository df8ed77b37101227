/* Device names from libpci (pci.ids, or udev's hwdb where libpci uses it), looked up the
 * way lspci does so the two tools print the same words. Names are interned: a host with
 * thousands of identical SR-IOV VFs looks each name up once and stores it once. */
#ifdef HAVE_LIBUDEV
#include <libudev.h>
#endif
#include <pci/pci.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "alloc-util.h"
#include "inventory/inventory.h"

struct names_entry {
	uint64_t key;          /* vendor, device, subsystem vendor, subsystem device */
	uint32_t class_code;   /* the class is part of the key: the description has it */
	bool used;
	const char *vendor, *device, *svendor, *sdevice, *class_name, *description;
};

static struct pci_access *pacc;
static int lookup_flags;       /* PCI_LOOKUP_NO_HWDB when udev's hwdb cannot be opened */
static struct names_entry *table;
static size_t table_size, table_used;
static struct dp_strv owned;   /* every interned string, freed at release */

static void names_warning(char *msg, ...)
{
	(void)msg;   /* a missing pci.ids only costs names: ids are still printed */
}

/* libpci calls this only when it cannot go on (out of memory) */
static void __attribute__((noreturn)) names_fatal(char *msg, ...)
{
	fprintf(stderr, "devpass: libpci: %s\n", msg);
	abort();
}

/* libpci asks udev's hwdb for the names pci.ids lacks. Where it cannot open the hwdb
 * (udev not installed: no hwdb.bin), libpci 3.9 makes a new udev context for every such
 * name and loses the one before, so valgrind finds "definitely lost" blocks in udev_new
 * that are not devpass's. Asking libudev itself whether its hwdb opens, and telling
 * libpci not to try when it does not, gives the same names and no leak. */
static bool hwdb_opens(void)
{
#ifdef HAVE_LIBUDEV
	struct udev *udev = udev_new();
	struct udev_hwdb *hwdb = udev ? udev_hwdb_new(udev) : NULL;
	bool opens = hwdb != NULL;
	udev_hwdb_unref(hwdb);
	udev_unref(udev);
	return opens;
#else
	return true;   /* without libudev, let libpci decide as it always has */
#endif
}

/* Only the name database is used: no access method is started (pci_init would probe the
 * host's /sys outside the filesystem root), so the callbacks pci_init sets are set here. */
static struct pci_access *names_access(void)
{
	if (!pacc) {
		pacc = pci_alloc();
		pacc->warning = names_warning;
		pacc->debug = names_warning;
		pacc->error = names_fatal;
		lookup_flags = hwdb_opens() ? 0 : PCI_LOOKUP_NO_HWDB;
	}
	return pacc;
}

/* A name kept until dp_names_release; out of memory, the device goes unnamed ("") rather
 * than the listing failing: names are for reading, never for matching. */
static const char *intern(const char *s)
{
	if (dp_strv_add(&owned, s) < 0)
		return "";
	return owned.v[owned.n - 1];
}

static const char *lookup(int flags, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, flags);
	int a1 = va_arg(ap, int), a2 = va_arg(ap, int), a3 = va_arg(ap, int), a4 = va_arg(ap, int);
	va_end(ap);
	struct pci_access *access = names_access();
	const char *name = pci_lookup_name(access, buf, sizeof(buf), flags | lookup_flags, a1, a2, a3, a4);
	return intern(name ? name : "");
}

static uint64_t hash_key(uint64_t key, uint32_t class_code)
{
	uint64_t h = (key ^ ((uint64_t)class_code << 20)) * 0x9E3779B97F4A7C15ull;
	return h ^ (h >> 29);
}

static bool table_grow(void);

/* NULL when the table is full and cannot grow: the caller looks the names up uncached. */
static struct names_entry *table_slot(uint64_t key, uint32_t class_code)
{
	if (table_used * 2 >= table_size && !table_grow() && table_used + 1 >= table_size)
		return NULL;
	size_t i = hash_key(key, class_code) & (table_size - 1);
	while (table[i].used && (table[i].key != key || table[i].class_code != class_code))
		i = (i + 1) & (table_size - 1);
	return &table[i];
}

/* false (and the table as it was) when out of memory */
static bool table_grow(void)
{
	size_t size = table_size ? table_size * 2 : 256;
	struct names_entry *grown = calloc(size, sizeof(*grown));
	if (!grown)
		return false;
	_cleanup_free_ struct names_entry *old = table;
	size_t old_size = table_size;
	table = grown;
	table_size = size;
	table_used = 0;
	for (size_t i = 0; i < old_size; i++) {
		if (!old[i].used)
			continue;
		*table_slot(old[i].key, old[i].class_code) = old[i];
		table_used++;
	}
	return true;
}

static void entry_fill(struct names_entry *e, const struct dp_pci_device *dev)
{
	e->class_name = lookup(PCI_LOOKUP_CLASS, (int)(dev->class_code >> 8), 0, 0, 0);
	e->vendor = lookup(PCI_LOOKUP_VENDOR, dev->vendor, 0, 0, 0);
	e->device = lookup(PCI_LOOKUP_DEVICE, dev->vendor, dev->device, 0, 0);
	if (dev->has_subsys) {
		e->svendor = lookup(PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_VENDOR, dev->subsys_vendor, 0, 0, 0);
		e->sdevice = lookup(PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_DEVICE, dev->vendor, dev->device,
		                    dev->subsys_vendor, dev->subsys_device);
	}
	char both[600];
	const char *vd = lookup(PCI_LOOKUP_VENDOR | PCI_LOOKUP_DEVICE, dev->vendor, dev->device, 0, 0);
	snprintf(both, sizeof(both), "%s: %s", e->class_name, vd);
	e->description = intern(both);
}

void dp_names_fill(struct dp_pci_device *dev)
{
	uint64_t key = (uint64_t)dev->vendor << 48 | (uint64_t)dev->device << 32 |
	               (uint64_t)(dev->has_subsys ? dev->subsys_vendor : 0) << 16 |
	               (dev->has_subsys ? dev->subsys_device : 0);
	struct names_entry uncached = {0}, *e = table_slot(key, dev->class_code >> 8);
	if (!e)
		e = &uncached;
	if (!e->used) {
		e->used = true;
		e->key = key;
		e->class_code = dev->class_code >> 8;
		entry_fill(e, dev);
		table_used += e != &uncached;
	}
	dev->class_name = e->class_name;
	dev->vendor_name = e->vendor;
	dev->device_name = e->device;
	dev->subsys_vendor_name = e->svendor;
	dev->subsys_device_name = e->sdevice;
	dev->description = e->description;
}

const char *dp_names_class(unsigned class_code_24)
{
	return lookup(PCI_LOOKUP_CLASS, (int)(class_code_24 >> 8), 0, 0, 0);
}

void dp_names_release(void)
{
	if (pacc)
		pci_cleanup(pacc);
	pacc = NULL;
	lookup_flags = 0;
	free(table);
	table = NULL;
	table_size = table_used = 0;
	dp_strv_free(&owned);
}
