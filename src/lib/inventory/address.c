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

/* v in lower-case hex, at least min_digits wide */
static char *hex_put(char *p, unsigned v, int min_digits)
{
	static const char digits[] = "0123456789abcdef";
	int n = 1;
	while (n < 8 && v >> (4 * n))
		n++;
	if (n < min_digits)
		n = min_digits;
	for (int i = n - 1; i >= 0; i--, v >>= 4)
		p[i] = digits[v & 0xf];
	return p + n;
}

/* "%04x:%02x:%02x.%x" without printf: the inventory formats every function's address. */
void dp_pci_addr_format(const struct dp_pci_addr *addr, char out[DP_ADDR_LEN])
{
	char buf[32], *p = buf;
	p = hex_put(p, addr->domain, 4);
	*p++ = ':';
	p = hex_put(p, addr->bus, 2);
	*p++ = ':';
	p = hex_put(p, addr->slot, 2);
	*p++ = '.';
	p = hex_put(p, addr->func, 1);
	size_t len = (size_t)(p - buf) < DP_ADDR_LEN ? (size_t)(p - buf) : DP_ADDR_LEN - 1;
	memcpy(out, buf, len);
	out[len] = '\0';
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
