/* Device selection for `list`: class names like driverctl's and ls-iommu's, ids,
 * driver, group, and lspci's -s selector ([[[[domain]:]bus]:][slot][.[func]]).
 * Values of one key are alternatives; keys all have to match. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "devpass.h"

struct class_alias {
	const char *name;
	unsigned value;      /* base class (mask 0xff0000) or base+sub (mask 0xffff00) */
	unsigned mask;
};

static const struct class_alias class_aliases[] = {
	{"storage", 0x010000, 0xff0000}, {"nvme", 0x010800, 0xffff00},
	{"sata", 0x010600, 0xffff00},    {"net", 0x020000, 0xff0000},
	{"network", 0x020000, 0xff0000}, {"ethernet", 0x020000, 0xffff00},
	{"display", 0x030000, 0xff0000}, {"gpu", 0x030000, 0xff0000},
	{"vga", 0x030000, 0xffff00},     {"multimedia", 0x040000, 0xff0000},
	{"audio", 0x040300, 0xffff00},   {"memory", 0x050000, 0xff0000},
	{"bridge", 0x060000, 0xff0000},  {"communication", 0x070000, 0xff0000},
	{"system", 0x080000, 0xff0000},  {"input", 0x090000, 0xff0000},
	{"docking", 0x0a0000, 0xff0000}, {"processor", 0x0b0000, 0xff0000},
	{"serial", 0x0c0000, 0xff0000},  {"usb", 0x0c0300, 0xffff00},
	{"wireless", 0x0d0000, 0xff0000}, {"crypto", 0x100000, 0xff0000},
	{"accelerator", 0x120000, 0xff0000},
};

const char *dp_filter_class_names(void)
{
	return "storage nvme sata net network ethernet display gpu vga multimedia audio memory "
	       "bridge communication system input docking processor serial usb wireless crypto "
	       "accelerator, or a hex class like 03, 0300 or 010802";
}

static bool hex_exact(const char *s, size_t digits, unsigned *out)
{
	if (strlen(s) != digits || strspn(s, "0123456789abcdefABCDEF") != digits)
		return false;
	*out = (unsigned)strtoul(s, NULL, 16);
	return true;
}

/* A class name, or hex with or without 0x (sysfs writes 0x030000) */
static int class_parse(const char *name, struct dp_filter_class *out)
{
	unsigned v;
	for (size_t i = 0; i < sizeof(class_aliases) / sizeof(class_aliases[0]); i++)
		if (strcasecmp(name, class_aliases[i].name) == 0) {
			*out = (struct dp_filter_class){class_aliases[i].value, class_aliases[i].mask};
			return 0;
		}
	const char *hex = strncasecmp(name, "0x", 2) == 0 ? name + 2 : name;
	if (hex_exact(hex, 2, &v))
		*out = (struct dp_filter_class){v << 16, 0xff0000};
	else if (hex_exact(hex, 4, &v))
		*out = (struct dp_filter_class){v << 8, 0xffff00};
	else if (hex_exact(hex, 6, &v))   /* with the programming interface: 010802 */
		*out = (struct dp_filter_class){v, 0xffffff};
	else
		return dp_error_set(-EINVAL, "unknown class '%s': use one of %s", name,
		                    dp_filter_class_names());
	return 0;
}

int dp_filter_set_class(struct dp_pci_filter *f, const char *name)
{
	struct dp_filter_class c;
	if (class_parse(name, &c) < 0)
		return -EINVAL;
	f->class_value = c.value;
	f->class_mask = c.mask;
	f->classes[0] = c;
	f->nclasses = 1;
	return 0;
}

/* Calls add for each comma-separated value of list; empty values are errors. */
static int list_each(struct dp_pci_filter *f, const char *list, size_t *count,
                     int (*add)(struct dp_pci_filter *f, const char *value))
{
	char value[128];
	for (const char *p = list;; p++) {
		size_t len = strcspn(p, ",");
		if (len == 0)
			return dp_error_set(-EINVAL, "'%s' has an empty value: separate values with one comma "
			                    "(10de,15b3)", list);
		if (len >= sizeof(value))
			return dp_error_set(-EINVAL, "'%.*s...' is too long for a value", 40, p);
		if (*count >= DP_FILTER_MAX)
			return dp_error_set(-EINVAL, "too many values (at most %d for one filter)",
			                    DP_FILTER_MAX);
		memcpy(value, p, len);
		value[len] = '\0';
		int r = add(f, value);
		if (r < 0)
			return r;
		p += len;
		if (!*p)
			return 0;
	}
}

static int class_add(struct dp_pci_filter *f, const char *value)
{
	return class_parse(value, &f->classes[f->nclasses]) < 0 ? -EINVAL : (f->nclasses++, 0);
}

int dp_filter_add_class(struct dp_pci_filter *f, const char *list)
{
	return list_each(f, list, &f->nclasses, class_add);
}

static int vendor_add(struct dp_pci_filter *f, const char *value)
{
	unsigned v;
	if (!hex_exact(value, 4, &v))
		return dp_error_set(-EINVAL, "'%s' is not a vendor id: expected 4 hex digits like 10de",
		                    value);
	f->vendors[f->nvendors++] = (int)v;
	return 0;
}

int dp_filter_add_vendor(struct dp_pci_filter *f, const char *list)
{
	return list_each(f, list, &f->nvendors, vendor_add);
}

/* [VENDOR]:[DEVICE] as lspci -d takes it; an empty side matches any */
static int id_add(struct dp_pci_filter *f, const char *value)
{
	const char *colon = strchr(value, ':');
	char vendor[8] = "", device[8] = "";
	unsigned v = 0, d = 0;
	bool ok = colon && strchr(colon + 1, ':') == NULL && colon - value <= 4 &&
	          strlen(colon + 1) <= 4 && (colon != value || colon[1]);
	if (ok) {
		memcpy(vendor, value, (size_t)(colon - value));
		strcpy(device, colon + 1);
		ok = (!*vendor || hex_exact(vendor, 4, &v)) && (!*device || hex_exact(device, 4, &d));
	}
	if (!ok)
		return dp_error_set(-EINVAL, "'%s' is not a device id: expected VENDOR:DEVICE like "
		                    "10de:2204 (or 10de: for any device of a vendor)", value);
	f->ids[f->nids++] = (struct dp_filter_id){*vendor ? (int)v : -1, *device ? (int)d : -1};
	return 0;
}

int dp_filter_add_device(struct dp_pci_filter *f, const char *list)
{
	return list_each(f, list, &f->nids, id_add);
}

static int driver_add(struct dp_pci_filter *f, const char *value)
{
	if (strlen(value) >= sizeof(f->drivers[0]))
		return dp_error_set(-EINVAL, "'%.40s...' is too long for a driver name", value);
	strcpy(f->drivers[f->ndrivers++], value);
	return 0;
}

int dp_filter_add_driver(struct dp_pci_filter *f, const char *list)
{
	return list_each(f, list, &f->ndrivers, driver_add);
}

static int group_add(struct dp_pci_filter *f, const char *value)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(value, &end, 10);
	/* strtoul takes "-1" and wraps; an int group number never exceeds INT_MAX */
	if (*end || end == value || errno || value[0] == '-' || value[0] == '+' || n > INT_MAX)
		return dp_error_set(-EINVAL, "'%s' is not an IOMMU group number", value);
	f->groups[f->ngroups++] = (int)n;
	return 0;
}

int dp_filter_add_group(struct dp_pci_filter *f, const char *list)
{
	return list_each(f, list, &f->ngroups, group_add);
}

/* One selector field: empty or '*' matches anything. */
static int selector_field(const char *s, size_t len, unsigned max, int *out)
{
	if (len == 0 || (len == 1 && s[0] == '*')) {
		*out = -1;
		return 0;
	}
	char buf[16];
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *end;
	unsigned long v = strtoul(buf, &end, 16);
	if (*end || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static int selector_add(struct dp_pci_filter *f, const char *text)
{
	const char *dot = strchr(text, '.');
	size_t head_len = dot ? (size_t)(dot - text) : strlen(text);
	/* the part before '.' is slot, bus:slot or domain:bus:slot */
	const char *start[4];
	size_t len[4];
	int parts = 0;
	for (const char *p = text;; parts++) {
		const char *colon = memchr(p, ':', head_len - (size_t)(p - text));
		if (parts == 3)
			break;
		start[parts] = p;
		len[parts] = colon ? (size_t)(colon - p) : head_len - (size_t)(p - text);
		if (!colon) {
			parts++;
			break;
		}
		p = colon + 1;
	}
	int field[4] = {-1, -1, -1, -1};   /* domain, bus, slot, func */
	static const unsigned max[4] = {0xffffffff, 0xff, 0x1f, 7};
	size_t colons = 0;
	for (size_t i = 0; i < head_len; i++)
		colons += text[i] == ':';
	bool bad = colons > 2;
	for (int i = 0; !bad && i < parts; i++) {
		int which = 3 - parts + i;
		bad = selector_field(start[i], len[i], max[which], &field[which]) < 0;
	}
	if (!bad && dot)
		bad = selector_field(dot + 1, strlen(dot + 1), 7, &field[3]) < 0;
	if (bad)
		return dp_error_set(-EINVAL,
		                    "'%s' is not a slot selector: expected [[[[domain]:]bus]:][slot][.[func]] "
		                    "as in lspci -s (for example 01:00 or 0000:01:00.1)", text);
	f->slots[f->nslots++] = (struct dp_filter_slot){field[0], field[1], field[2], field[3]};
	return 0;
}

int dp_filter_add_selector(struct dp_pci_filter *f, const char *list)
{
	return list_each(f, list, &f->nslots, selector_add);
}

void dp_filter_init(struct dp_pci_filter *f)
{
	memset(f, 0, sizeof(*f));
}

static bool field_match(int want, unsigned have)
{
	return want < 0 || (unsigned)want == have;
}

bool dp_driver_name_equal(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_')))
			return false;
	return *a == *b;
}

static bool class_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev)
{
	for (size_t i = 0; i < f->nclasses; i++)
		if ((dev->class_code & f->classes[i].mask) == f->classes[i].value)
			return true;
	return f->nclasses == 0;
}

static bool vendor_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev)
{
	for (size_t i = 0; i < f->nvendors; i++)
		if ((unsigned)f->vendors[i] == dev->vendor)
			return true;
	return f->nvendors == 0;
}

static bool id_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev)
{
	for (size_t i = 0; i < f->nids; i++)
		if (field_match(f->ids[i].vendor, dev->vendor) && field_match(f->ids[i].device, dev->device))
			return true;
	return f->nids == 0;
}

static bool driver_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev)
{
	for (size_t i = 0; i < f->ndrivers; i++)
		if (strcmp(f->drivers[i], "none") == 0 ? !dev->driver[0]
		                                       : dp_driver_name_equal(f->drivers[i], dev->driver))
			return true;
	return f->ndrivers == 0;
}

static bool group_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev)
{
	for (size_t i = 0; i < f->ngroups; i++)
		if (dev->iommu_group == f->groups[i])
			return true;
	return f->ngroups == 0;
}

static bool slot_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev)
{
	for (size_t i = 0; i < f->nslots; i++) {
		const struct dp_filter_slot *s = &f->slots[i];
		if (field_match(s->domain, dev->addr.domain) && field_match(s->bus, dev->addr.bus) &&
		    field_match(s->slot, dev->addr.slot) && field_match(s->func, dev->addr.func))
			return true;
	}
	return f->nslots == 0;
}

bool dp_filter_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev)
{
	return class_match(f, dev) && vendor_match(f, dev) && id_match(f, dev) &&
	       driver_match(f, dev) && group_match(f, dev) && slot_match(f, dev);
}
