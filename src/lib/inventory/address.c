#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"
#include "inventory/inventory.h"

/* Parses a hex field of 1..maxlen digits ending at one of the stop characters. */
static const char *hex_field(const char *p, int maxlen, unsigned *out)
{
	int n = 0;
	unsigned v = 0;
	while (isxdigit((unsigned char)p[n]) && n < maxlen) {
		char c = (char)tolower((unsigned char)p[n]);
		v = v * 16 + (unsigned)(isdigit((unsigned char)c) ? c - '0' : c - 'a' + 10);
		n++;
	}
	if (n == 0 || isxdigit((unsigned char)p[n]))
		return NULL;
	*out = v;
	return p + n;
}

static int parse_strict(const char *text, struct dp_pci_addr *a)
{
	const char *p = text;
	unsigned f1, f2;
	a->domain = 0;
	if (!(p = hex_field(p, 8, &f1)) || *p++ != ':')
		return -1;
	if (!(p = hex_field(p, 2, &f2)))
		return -1;
	if (*p == ':') {           /* DDDD:BB:DD.F */
		a->domain = f1;
		a->bus = f2;
		if (!(p = hex_field(p + 1, 2, &a->slot)))
			return -1;
	} else {                   /* BB:DD.F */
		if (f1 > 0xff)
			return -1;
		a->bus = f1;
		a->slot = f2;
	}
	if (*p++ != '.' || !(p = hex_field(p, 1, &a->func)) || *p)
		return -1;
	return 0;
}

int dp_pci_addr_parse(const char *text, struct dp_pci_addr *out)
{
	struct dp_pci_addr a;
	if (!text || parse_strict(text, &a) < 0)
		return dp_error_set(-EINVAL,
		                    "'%s' is not a PCI address: expected DDDD:BB:DD.F or BB:DD.F "
		                    "(for example 0000:01:00.0 or 01:00.0)", text ? text : "");
	if (a.slot > 0x1f || a.func > 7)
		return dp_error_set(-EINVAL,
		                    "'%s' is not a valid PCI address: the device number must be 00-1f "
		                    "and the function 0-7", text);
	*out = a;
	return 0;
}

void dp_pci_addr_format(const struct dp_pci_addr *addr, char out[DP_ADDR_LEN])
{
	snprintf(out, DP_ADDR_LEN, "%04x:%02x:%02x.%x", addr->domain, addr->bus,
	         addr->slot, addr->func);
}

/* Sysfs device names are always the full lower-case form. */
bool dp_pci_addr_is_valid_name(const char *name)
{
	struct dp_pci_addr a;
	if (strlen(name) < 12 || parse_strict(name, &a) < 0 || a.slot > 0x1f || a.func > 7)
		return false;
	char canonical[DP_ADDR_LEN];
	dp_pci_addr_format(&a, canonical);
	return strcmp(canonical, name) == 0;
}
