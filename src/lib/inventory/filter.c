/* Device selection for `list`: class names like driverctl's and ls-iommu's, ids,
 * driver, group, and lspci's -s selector ([[[[domain]:]bus]:][slot][.[func]]). */
#include <errno.h>
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

int dp_filter_set_class(struct dp_pci_filter *f, const char *name)
{
	unsigned v;
	for (size_t i = 0; i < sizeof(class_aliases) / sizeof(class_aliases[0]); i++)
		if (strcasecmp(name, class_aliases[i].name) == 0) {
			f->class_value = class_aliases[i].value;
			f->class_mask = class_aliases[i].mask;
			return 0;
		}
	if (hex_exact(name, 2, &v)) {
		f->class_value = v << 16;
		f->class_mask = 0xff0000;
		return 0;
	}
	if (hex_exact(name, 4, &v)) {
		f->class_value = v << 8;
		f->class_mask = 0xffff00;
		return 0;
	}
	if (hex_exact(name, 6, &v)) {   /* with the programming interface: 010802 */
		f->class_value = v;
		f->class_mask = 0xffffff;
		return 0;
	}
	return dp_error_set(-EINVAL, "unknown class '%s': use one of %s", name,
	                    dp_filter_class_names());
}

int dp_filter_set_vendor(struct dp_pci_filter *f, const char *text)
{
	unsigned v;
	if (!hex_exact(text, 4, &v))
		return dp_error_set(-EINVAL, "'%s' is not a vendor id: expected 4 hex digits like 10de",
		                    text);
	f->vendor = (int)v;
	return 0;
}

int dp_filter_set_device(struct dp_pci_filter *f, const char *text)
{
	char vendor[8], device[8];
	unsigned v, d;
	if (sscanf(text, "%7[^:]:%7s", vendor, device) != 2 || !hex_exact(vendor, 4, &v) ||
	    !hex_exact(device, 4, &d))
		return dp_error_set(-EINVAL,
		                    "'%s' is not a device id: expected VENDOR:DEVICE like 10de:2204", text);
	f->vendor = (int)v;
	f->device = (int)d;
	return 0;
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

int dp_filter_set_selector(struct dp_pci_filter *f, const char *text)
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
	f->sel_domain = field[0];
	f->sel_bus = field[1];
	f->sel_slot = field[2];
	f->sel_func = field[3];
	f->has_selector = true;
	return 0;
}

void dp_filter_init(struct dp_pci_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->vendor = f->device = f->group = -1;
}

static bool field_match(int want, unsigned have)
{
	return want < 0 || (unsigned)want == have;
}

bool dp_filter_match(const struct dp_pci_filter *f, const struct dp_pci_device *dev)
{
	if (f->class_mask && (dev->class_code & f->class_mask) != f->class_value)
		return false;
	if (!field_match(f->vendor, dev->vendor) || !field_match(f->device, dev->device))
		return false;
	if (f->driver && strcmp(f->driver, dev->driver) != 0 &&
	    !(strcmp(f->driver, "none") == 0 && !dev->driver[0]))
		return false;
	if (f->group >= 0 && dev->iommu_group != f->group)
		return false;
	if (f->has_selector &&
	    (!field_match(f->sel_domain, dev->addr.domain) || !field_match(f->sel_bus, dev->addr.bus) ||
	     !field_match(f->sel_slot, dev->addr.slot) || !field_match(f->sel_func, dev->addr.func)))
		return false;
	return true;
}
