/* The text formats of USB devices in sysfs and on the command line: names, ids, order,
 * key bitmaps. No filesystem access. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usb/usb.h"

#define USB_MAX_TIERS 7

/* A decimal number without sign or leading zero in [min, max]; returns the end. */
static const char *number(const char *p, long min, long max, long *out)
{
	if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
		return NULL;
	char *end;
	long v = strtol(p, &end, 10);
	if (v < min || v > max)
		return NULL;
	*out = v;
	return end;
}

/* "1.2.4": port numbers joined by dots; the end of it, or NULL */
static const char *port_chain(const char *p, char *devpath, size_t size)
{
	const char *start = p;
	long port;
	for (int tier = 0;; tier++) {
		if (tier == USB_MAX_TIERS || !(p = number(p, 1, 255, &port)))
			return NULL;
		if (*p != '.')
			break;
		p++;
	}
	if ((size_t)(p - start) >= size)
		return NULL;
	snprintf(devpath, size, "%.*s", (int)(p - start), start);
	return p;
}

/* ":C.I", the configuration and interface numbers of an interface name */
static bool interface_suffix(const char *p)
{
	long v;
	return *p == ':' && (p = number(p + 1, 0, 255, &v)) && *p == '.' &&
	       (p = number(p + 1, 0, 255, &v)) && *p == '\0';
}

enum usb_name_kind usb_name_parse(const char *name, int *busnum, char *devpath, size_t size)
{
	long bus;
	const char *p;
	if (strncmp(name, "usb", 3) == 0) {
		if (!(p = number(name + 3, 1, 999, &bus)) || *p || size < 2)
			return USB_NAME_OTHER;
		*busnum = (int)bus;
		snprintf(devpath, size, "0");
		return USB_NAME_ROOT_HUB;
	}
	if (!(p = number(name, 1, 999, &bus)) || *p != '-')
		return USB_NAME_OTHER;
	*busnum = (int)bus;
	if (p[1] == '0' && interface_suffix(p + 2))   /* a root hub's interface: "3-0:1.0" */
		return USB_NAME_INTERFACE;
	if (!(p = port_chain(p + 1, devpath, size)))
		return USB_NAME_OTHER;
	if (*p == '\0')
		return USB_NAME_DEVICE;
	return interface_suffix(p) ? USB_NAME_INTERFACE : USB_NAME_OTHER;
}

static bool hex16(const char *p, size_t len, uint16_t *out)
{
	if (len < 1 || len > 4)
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)p[i]))
			return false;
		v = v * 16 + (unsigned)(isdigit((unsigned char)p[i]) ? p[i] - '0' : tolower((unsigned char)p[i]) - 'a' + 10);
	}
	*out = (uint16_t)v;
	return true;
}

bool usb_id_parse(const char *text, uint16_t *vid, uint16_t *pid, const char **serial)
{
	const char *colon = strchr(text, ':');
	if (!colon || !hex16(text, (size_t)(colon - text), vid))
		return false;
	const char *second = strchr(colon + 1, ':');
	size_t len = second ? (size_t)(second - colon - 1) : strlen(colon + 1);
	if (!hex16(colon + 1, len, pid) || (second && second[1] == '\0'))
		return false;
	*serial = second ? second + 1 : NULL;
	return true;
}

int usb_location_compare(int bus_a, const char *devpath_a, int bus_b, const char *devpath_b)
{
	if (bus_a != bus_b)
		return bus_a < bus_b ? -1 : 1;
	const char *a = devpath_a, *b = devpath_b;
	while (*a && *b) {
		char *ea, *eb;
		long pa = strtol(a, &ea, 10), pb = strtol(b, &eb, 10);
		if (pa != pb)
			return pa < pb ? -1 : 1;
		a = *ea == '.' ? ea + 1 : ea;
		b = *eb == '.' ? eb + 1 : eb;
	}
	return (*a != '\0') - (*b != '\0');   /* a hub before the devices behind it */
}

bool usb_hex_byte(const char *text, uint8_t *out)
{
	uint16_t v;
	size_t len = strlen(text);
	if (len > 2 || !hex16(text, len, &v))
		return false;
	*out = (uint8_t)v;
	return true;
}

bool usb_key_bitmap_is_keyboard(const char *bitmap)
{
	const char *last = strrchr(bitmap, ' ');
	last = last ? last + 1 : bitmap;
	char *end;
	errno = 0;
	unsigned long long low = strtoull(last, &end, 16);
	if (errno || end == last || (*end && !isspace((unsigned char)*end)))
		return false;
	return (low & 0xfffffffeull) == 0xfffffffeull;
}
