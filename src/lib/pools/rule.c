/* Pool rules: "key=value key=v1,v2 ..." — every term must match (AND), a comma list
 * matches when any value does (OR), and values are shell globs. Parsing normalises what
 * can be normalised (hex to lower case and 4 digits, short addresses to domain 0000), so
 * that one rule has one canonical text and `rule rm` finds it however it was typed.
 * Errors say which term is wrong, where (byte offset, and a caret under the rule), and
 * what would be right. */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "devpass.h"
#include "alloc-util.h"
#include "util/strutil.h"

static const char *const key_names[DP_RK_COUNT] = {
	[DP_RK_VENDOR] = "vendor", [DP_RK_DEVICE] = "device", [DP_RK_ID] = "id",
	[DP_RK_SUBSYSTEM] = "subsystem", [DP_RK_CLASS] = "class", [DP_RK_NAME] = "name",
	[DP_RK_ADDRESS] = "address", [DP_RK_SERIAL] = "serial", [DP_RK_DRIVER] = "driver",
	[DP_RK_NUMA] = "numa", [DP_RK_PHYSFN] = "physfn", [DP_RK_PORT] = "port",
	[DP_RK_CONTROLLER] = "controller", [DP_RK_PARENT] = "parent", [DP_RK_TYPE] = "type",
};

#define KEY_LIST "vendor, device, id, subsystem, class, name, address, serial, driver, numa, " \
                 "physfn; usb pools: port, controller; mdev pools: parent, type"
#define GLOB_CHARS "*?[]!"
#define HEX_CHARS "0123456789abcdefABCDEF"

const char *dp_rule_key_name(enum dp_rule_key key)
{
	return key < DP_RK_COUNT ? key_names[key] : "?";
}

static int key_lookup(const char *name, size_t len)
{
	for (int k = 0; k < DP_RK_COUNT; k++)
		if (strlen(key_names[k]) == len && strncmp(key_names[k], name, len) == 0)
			return k;
	return -1;
}

/* ---- errors: the message names the term and shows where it is --------------------- */

struct parse {
	const char *text;
	size_t *error_pos;
};

static int term_error(const struct parse *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int term_error(const struct parse *p, size_t pos, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	*p->error_pos = pos;
	/* the echo stays one line, and the caret counts characters, not bytes */
	char echo[4096 + 16];
	size_t column = dp_text_echo(p->text, pos, echo, sizeof(echo));
	return dp_error_set(-EINVAL, "bad rule at column %zu: %s\n  %s\n  %*s^", column + 1, why,
	                    echo, (int)column, "");
}

static const char *control_name(unsigned char c, char *buf, size_t size)
{
	if (c == '\n')
		return "a newline";
	if (c == '\t')
		return "a tab";
	if (c == '\r')
		return "a carriage return";
	snprintf(buf, size, "the control character 0x%02x", c);
	return buf;
}

/* Rules go into JSON exports and platform configuration: UTF-8 text on one line. */
static int text_check(const struct parse *p)
{
	char *spaced = strdup(p->text);   /* a tab separates terms like a space does */
	if (!spaced)
		return dp_error_set(-ENOMEM, "out of memory");
	for (char *t = spaced; (t = strchr(t, '\t'));)
		*t = ' ';
	ssize_t bad = dp_utf8_text_error(spaced);
	free(spaced);
	if (bad < 0)
		return 0;
	unsigned char c = (unsigned char)p->text[bad];
	char name[48];
	if (c < 0x20 || c == 0x7f)
		return term_error(p, (size_t)bad, "the rule holds %s: a rule is one line of text, its "
		                  "terms separated by spaces", control_name(c, name, sizeof(name)));
	return term_error(p, (size_t)bad, "byte 0x%02x is not UTF-8: rules are UTF-8 text", c);
}

/* ---- value checks and normalisation, per key --------------------------------------- */

static bool has_glob(const char *v)
{
	return strpbrk(v, GLOB_CHARS) != NULL;
}

static void lower(char *v)
{
	for (; *v; v++)
		*v = (char)tolower((unsigned char)*v);
}

/* A 16-bit id: 1-4 hex digits (padded to 4), or a glob over hex digits. */
static bool id_half_normalise(char *v, size_t size)
{
	size_t n = strlen(v);
	/* '-' only as a range inside a [...] glob */
	if (n == 0 || strspn(v, HEX_CHARS GLOB_CHARS "-") != n || (!has_glob(v) && strchr(v, '-')))
		return false;
	lower(v);
	if (has_glob(v))
		return true;
	if (n > 4)
		return false;
	char padded[8];
	snprintf(padded, sizeof(padded), "%04lx", strtoul(v, NULL, 16));
	snprintf(v, size, "%s", padded);
	return true;
}

static bool id_pair_normalise(char *v, size_t size)
{
	char *colon = strchr(v, ':');
	if (!colon)
		return strcmp(v, "*") == 0;   /* any id, with or without a subsystem */
	char left[64], right[64];
	snprintf(left, sizeof(left), "%.*s", (int)(colon - v), v);
	snprintf(right, sizeof(right), "%s", colon + 1);
	if (!id_half_normalise(left, sizeof(left)) || !id_half_normalise(right, sizeof(right)))
		return false;
	snprintf(v, size, "%s:%s", left, right);
	return true;
}

/* Addresses as lspci -D prints them; a form without the domain means domain 0000. */
static bool address_normalise(char *v, size_t size)
{
	size_t n = strlen(v);
	if (strspn(v, HEX_CHARS GLOB_CHARS ":.-") != n || (!has_glob(v) && strchr(v, '-')))
		return false;
	lower(v);
	size_t colons = 0;
	for (const char *c = v; *c; c++)
		colons += *c == ':';
	if (colons > 2 || (colons == 0 && strcmp(v, "*") != 0))
		return false;
	if (colons == 1) {   /* with the domain the value must still fit */
		if (n + 5 >= size)
			return false;
		memmove(v + 5, v, n + 1);
		memcpy(v, "0000:", 5);
	}
	return true;
}

/* USB class codes by the names lsusb shows them under (usb.ids "C" lines, shortened). */
static const struct usb_class_name {
	const char *name;
	uint8_t code;
} usb_classes[] = {
	{"audio", 0x01}, {"comm", 0x02}, {"hid", 0x03}, {"physical", 0x05}, {"image", 0x06},
	{"printer", 0x07}, {"storage", 0x08}, {"hub", 0x09}, {"cdc-data", 0x0a},
	{"smartcard", 0x0b}, {"security", 0x0d}, {"video", 0x0e}, {"healthcare", 0x0f},
	{"wireless", 0xe0}, {"misc", 0xef}, {"app", 0xfe}, {"vendor", 0xff},
};

/* -1 when the name is not a USB class name */
static int usb_class_code(const char *v)
{
	for (size_t i = 0; i < sizeof(usb_classes) / sizeof(usb_classes[0]); i++)
		if (strcasecmp(usb_classes[i].name, v) == 0)
			return usb_classes[i].code;
	return -1;
}

/* PCI class names and hex, or USB class names: which applies is the pool type's affair. */
static bool class_valid(char *v)
{
	struct dp_pci_filter f;
	dp_filter_init(&f);
	if (dp_filter_set_class(&f, v) < 0 && (has_glob(v) || usb_class_code(v) < 0))
		return false;
	lower(v);
	return true;
}

/* USB ports are "BUS-PORT[.PORT...]", as sysfs names them (root hubs "usbN" are not members). */
static bool port_valid(const char *v)
{
	size_t n = strlen(v);
	return n > 0 && n < 40 && strspn(v, "0123456789.-" GLOB_CHARS) == n;
}

static bool numa_valid(const char *v)
{
	size_t n = strlen(v);
	return strcmp(v, "none") == 0 || (n > 0 && n <= 4 && strspn(v, "0123456789") == n);
}

static bool driver_valid(const char *v)
{
	return strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-." GLOB_CHARS)
	       == strlen(v);
}

static const char *value_hint(enum dp_rule_key key)
{
	switch (key) {
	case DP_RK_VENDOR:
	case DP_RK_DEVICE: return "up to 4 hex digits (10de), or a glob such as 15b3 or 10*";
	case DP_RK_ID:
	case DP_RK_SUBSYSTEM: return "VVVV:DDDD in hex (10de:2204), globs allowed (10de:*)";
	case DP_RK_CLASS: return dp_filter_class_names();
	case DP_RK_ADDRESS:
	case DP_RK_PHYSFN: return "a PCI address DDDD:BB:SS.F or BB:SS.F, globs allowed (0000:8?:00.*)";
	case DP_RK_NUMA: return "a NUMA node number, or none";
	case DP_RK_DRIVER: return "a driver name (glob allowed), or none for unbound devices";
	case DP_RK_PORT: return "a USB port BUS-PORT[.PORT...] as sysfs names it (1-1.2), globs allowed";
	default: return "a glob";
	}
}

static bool value_normalise(enum dp_rule_key key, char *v, size_t size)
{
	switch (key) {
	case DP_RK_VENDOR:
	case DP_RK_DEVICE: return id_half_normalise(v, size);
	case DP_RK_ID:
	case DP_RK_SUBSYSTEM: return id_pair_normalise(v, size);
	case DP_RK_CLASS: return class_valid(v);
	case DP_RK_ADDRESS:
	case DP_RK_PHYSFN: return address_normalise(v, size);
	case DP_RK_NUMA: return numa_valid(v);
	case DP_RK_DRIVER: return driver_valid(v);
	case DP_RK_PORT: return port_valid(v);
	default: return true;   /* name, serial, controller, parent, type: any glob */
	}
}

/* ---- the parser -------------------------------------------------------------------- */

/* One term's extent: up to white space, except inside quotes (name="*RTX 3090*"). */
static int term_scan(const struct parse *p, size_t start, size_t *end)
{
	char quote = 0;
	size_t i = start, quote_pos = start;
	for (; p->text[i] && (quote || !isspace((unsigned char)p->text[i])); i++) {
		char c = p->text[i];
		if (quote && c == quote)
			quote = 0;
		else if (!quote && (c == '"' || c == '\'')) {
			quote = c;
			quote_pos = i;
		}
		else if ((unsigned char)c < 0x20 || c == 0x7f)
			return term_error(p, i, "control character in the rule");
	}
	if (quote)
		return term_error(p, quote_pos, "unbalanced %c quote: it is never closed", quote);
	*end = i;
	return 0;
}

/* The value with its quotes taken out; NULL when out of memory. */
static char *unquote(const char *v, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	char quote = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (quote && v[i] == quote)
			quote = 0;
		else if (!quote && (v[i] == '"' || v[i] == '\''))
			quote = v[i];
		else
			*o++ = v[i];
	}
	*o = '\0';
	return out;
}

static int values_parse(const struct parse *p, struct dp_rule_term *t, size_t vpos,
                        const char *value)
{
	const char *key = key_names[t->key];
	if (!*value)
		return term_error(p, vpos, "%s= has no value: expected %s", key, value_hint(t->key));
	const char *start = value;
	for (;;) {
		const char *comma = strchr(start, ',');
		size_t n = comma ? (size_t)(comma - start) : strlen(start);
		if (n == 0)
			return term_error(p, vpos, "%s= has an empty value in its list '%s'", key, value);
		char v[256];
		if (n >= sizeof(v))
			return term_error(p, vpos, "%s= value too long (at most %zu characters)", key,
			                  sizeof(v) - 1);
		snprintf(v, sizeof(v), "%.*s", (int)n, start);
		const char *eq = strchr(v, '=');
		if (eq && key_lookup(v, (size_t)(eq - v)) >= 0)   /* class=audio,vendor=10de */
			return term_error(p, vpos + (size_t)(start - value), "'%s' is not a%s %s; separate "
			                  "terms with spaces", v, strchr("aeiou", key[0]) ? "n" : "", key);
		if (!value_normalise(t->key, v, sizeof(v)))
			return term_error(p, vpos, "%s=%s is not valid: expected %s", key, v,
			                  value_hint(t->key));
		if (!dp_strv_contains(&t->values, v) && dp_strv_add(&t->values, v) < 0)
			return dp_oom();
		if (!comma)
			return 0;
		start = comma + 1;
	}
}

static int term_parse(const struct parse *p, struct dp_rule *rule, size_t start, size_t end)
{
	const char *term = p->text + start;
	const char *eq = memchr(term, '=', end - start);
	if (!eq)
		return term_error(p, start, "'%.*s' is not key=value (keys: %s)", (int)(end - start),
		                  term, KEY_LIST);
	size_t klen = (size_t)(eq - term);
	int key = key_lookup(term, klen);
	if (key < 0 && klen >= 5 && (strncmp(term, "group", klen) == 0 ||
	                             strncmp(term, "iommu_group", klen) == 0 ||
	                             strncmp(term, "iommugroup", klen) == 0))
		return term_error(p, start, "IOMMU group numbers change across boots and are not a "
		                  "rule key: select by address, physfn, id or serial");
	if (key < 0)
		return term_error(p, start, "unknown key '%.*s' (keys: %s)", (int)klen, term, KEY_LIST);
	for (size_t i = 0; i < rule->n; i++)
		if (rule->terms[i].key == (enum dp_rule_key)key)
			return term_error(p, start, "%s= is given twice: list the values in one term "
			                  "(%s=A,B)", key_names[key], key_names[key]);
	if (dp_array_grow(&rule->terms, rule->n, 1, sizeof(*rule->terms)) < 0)
		return dp_oom();
	struct dp_rule_term *t = &rule->terms[rule->n++];
	memset(t, 0, sizeof(*t));
	t->key = (enum dp_rule_key)key;
	t->pos = start;
	_cleanup_free_ char *value = unquote(eq + 1, (size_t)(p->text + end - (eq + 1)));
	if (!value)
		return dp_oom();
	return strchr(value, '"') && strchr(value, '\'')
	        ? term_error(p, (size_t)(eq + 1 - p->text), "%s= holds both kinds of quote; a rule "
	                     "can keep only one of them", key_names[key])
	        : values_parse(p, t, (size_t)(eq + 1 - p->text), value);
}

/* One term as text, its values quoted as they need. */
static int term_text_add(struct dp_strv *parts, const char *key, const struct dp_strv *vals)
{
	_cleanup_free_ char *values = dp_strv_join(vals, ",");
	if (!values)
		return -ENOMEM;
	if (strchr(values, '"'))
		return dp_strv_addf(parts, "%s='%s'", key, values);
	if (strpbrk(values, " \t'"))
		return dp_strv_addf(parts, "%s=\"%s\"", key, values);
	return dp_strv_addf(parts, "%s=%s", key, values);
}

/* Terms in key order: the same terms typed in another order are the same rule. NULL
 * when out of memory. */
static char *canonical_text(const struct dp_rule *rule)
{
	_cleanup_(dp_strv_freep) struct dp_strv parts = {0};
	for (int k = 0; k < DP_RK_COUNT; k++)
		for (size_t i = 0; i < rule->n; i++)
			if (rule->terms[i].key == (enum dp_rule_key)k &&
			    term_text_add(&parts, key_names[k], &rule->terms[i].values) < 0)
				return NULL;
	return dp_strv_join(&parts, " ");
}

int dp_rule_parse(const char *text, struct dp_rule *out, size_t *error_pos)
{
	size_t ignored;
	struct parse p = {text, error_pos ? error_pos : &ignored};
	memset(out, 0, sizeof(*out));
	*p.error_pos = 0;
	if (strlen(text) > 4096)
		return term_error(&p, 4096, "rule too long (at most 4096 characters)");
	int r = text_check(&p);
	size_t i = 0;
	while (r == 0) {
		while (isspace((unsigned char)text[i]))
			i++;
		if (!text[i])
			break;
		size_t end = i;
		if ((r = term_scan(&p, i, &end)) == 0)
			r = term_parse(&p, out, i, end);
		i = end;
	}
	if (r == 0 && out->n == 0)
		r = term_error(&p, 0, "the rule is empty: give key=value terms (keys: %s)", KEY_LIST);
	if (r < 0) {
		dp_rule_free(out);
		return r;
	}
	if (!(out->text = canonical_text(out))) {
		dp_rule_free(out);
		return dp_oom();
	}
	return 0;
}

void dp_rule_free(struct dp_rule *rule)
{
	for (size_t i = 0; i < rule->n; i++)
		dp_strv_free(&rule->terms[i].values);
	free(rule->terms);
	free(rule->text);
	memset(rule, 0, sizeof(*rule));
}

bool dp_rule_uses(const struct dp_rule *rule, enum dp_rule_key key)
{
	for (size_t i = 0; i < rule->n; i++)
		if (rule->terms[i].key == key)
			return true;
	return false;
}

/* ---- matching ---------------------------------------------------------------------- */

static bool glob_any(const struct dp_strv *values, const char *subject, int flags)
{
	for (size_t i = 0; i < values->n; i++)
		if (fnmatch(values->v[i], subject, flags) == 0)
			return true;
	return false;
}

static bool class_any(const struct dp_strv *values, uint32_t class_code)
{
	for (size_t i = 0; i < values->n; i++) {
		struct dp_pci_filter f;
		dp_filter_init(&f);
		if (dp_filter_set_class(&f, values->v[i]) == 0 &&
		    (class_code & f.class_mask) == f.class_value)
			return true;
	}
	return false;
}

static bool numa_any(const struct dp_strv *values, int node)
{
	for (size_t i = 0; i < values->n; i++)
		if (strcmp(values->v[i], "none") == 0 ? node < 0 : node == atoi(values->v[i]))
			return true;
	return false;
}

static bool term_match(const struct dp_rule_term *t, const struct dp_rule_subject *s)
{
	const struct dp_pci_device *d = s->dev;
	char buf[32];
	switch (t->key) {
	case DP_RK_VENDOR:
		snprintf(buf, sizeof(buf), "%04x", d->vendor);
		return glob_any(&t->values, buf, 0);
	case DP_RK_DEVICE:
		snprintf(buf, sizeof(buf), "%04x", d->device);
		return glob_any(&t->values, buf, 0);
	case DP_RK_ID:
		snprintf(buf, sizeof(buf), "%04x:%04x", d->vendor, d->device);
		return glob_any(&t->values, buf, 0);
	case DP_RK_SUBSYSTEM:
		if (!d->has_subsys)
			return dp_strv_contains(&t->values, "*");
		snprintf(buf, sizeof(buf), "%04x:%04x", d->subsys_vendor, d->subsys_device);
		return glob_any(&t->values, buf, 0);
	case DP_RK_CLASS:
		return class_any(&t->values, d->class_code);
	case DP_RK_NAME:
		return glob_any(&t->values, d->description ? d->description : "", FNM_CASEFOLD);
	case DP_RK_ADDRESS:
		return glob_any(&t->values, d->address, 0);
	case DP_RK_SERIAL:
		return (*s->serial && glob_any(&t->values, s->serial, FNM_CASEFOLD)) ||
		       (*s->dsn && glob_any(&t->values, s->dsn, FNM_CASEFOLD));
	case DP_RK_DRIVER:
		return *s->driver ? glob_any(&t->values, s->driver, 0)
		                  : dp_strv_contains(&t->values, "none");
	case DP_RK_NUMA:
		return numa_any(&t->values, d->numa_node);
	case DP_RK_PHYSFN:
		return *s->physfn && glob_any(&t->values, s->physfn, 0);
	default:
		return false;
	}
}

bool dp_rule_match(const struct dp_rule *rule, const struct dp_rule_subject *s)
{
	for (size_t i = 0; i < rule->n; i++)
		if (!term_match(&rule->terms[i], s))
			return false;
	return rule->n > 0;
}

/* ---- keys per pool type, and the subjects of the other kinds ------------------------- */

/* As pool types are spelled (db.c is above the rules: they cannot ask it) */
static const char *type_label(enum dp_pool_type type)
{
	return type == DP_POOL_USB ? "usb" : type == DP_POOL_MDEV ? "mdev"
	       : type == DP_POOL_SRIOV_VF ? "sriov-vf" : "pci";
}

static const char *type_keys(enum dp_pool_type type)
{
	switch (type) {
	case DP_POOL_USB: return "vendor, device, id, serial, port, class, name, controller";
	case DP_POOL_MDEV: return "parent, type, name";
	default: return "vendor, device, id, subsystem, class, name, address, serial, driver, "
	                "numa, physfn";
	}
}

static bool type_has_key(enum dp_pool_type type, enum dp_rule_key key)
{
	switch (type) {
	case DP_POOL_USB:
		return key == DP_RK_VENDOR || key == DP_RK_DEVICE || key == DP_RK_ID ||
		       key == DP_RK_SERIAL || key == DP_RK_PORT || key == DP_RK_CLASS ||
		       key == DP_RK_NAME || key == DP_RK_CONTROLLER;
	case DP_POOL_MDEV:
		return key == DP_RK_PARENT || key == DP_RK_TYPE || key == DP_RK_NAME;
	default:
		return key <= DP_RK_PHYSFN;
	}
}

/* A class value this type cannot match: a USB name in a PCI pool, or a PCI name in a USB one. */
static const char *class_misfit(enum dp_pool_type type, const struct dp_strv *values)
{
	for (size_t i = 0; i < values->n; i++) {
		struct dp_pci_filter f;
		dp_filter_init(&f);
		bool pci = dp_filter_set_class(&f, values->v[i]) == 0;
		bool usb = usb_class_code(values->v[i]) >= 0 || (strlen(values->v[i]) == 2 && pci);
		if (type == DP_POOL_USB ? !usb : !pci)
			return values->v[i];
	}
	return NULL;
}

int dp_rule_check_type(const struct dp_rule *rule, enum dp_pool_type type)
{
	for (size_t i = 0; i < rule->n; i++) {
		const struct dp_rule_term *t = &rule->terms[i];
		const char *bad = t->key == DP_RK_CLASS ? class_misfit(type, &t->values) : NULL;
		if (!type_has_key(type, t->key))
			return dp_error_set(-EINVAL, "%s= is not a key of %s pools (their keys: %s)",
			                    key_names[t->key], type_label(type), type_keys(type));
		if (bad)
			return dp_error_set(-EINVAL, "class=%s is not a %s class (%s)", bad,
			                    type == DP_POOL_USB ? "USB" : "PCI",
			                    type == DP_POOL_USB ? "2 hex digits or a USB class name: hid, "
			                    "storage, audio, video, printer, smartcard, wireless, vendor, ..."
			                                        : dp_filter_class_names());
	}
	return 0;
}

static bool usb_class_any(const struct dp_strv *values, const struct dp_rule_usb_subject *s)
{
	for (size_t i = 0; i < values->n; i++) {
		int code = usb_class_code(values->v[i]);
		if (code < 0)
			code = (int)strtol(values->v[i], NULL, 16);
		if (s->cls == code)
			return true;
		for (size_t k = 0; k < s->nifs; k++)
			if (s->if_classes[k] == code)
				return true;
	}
	return false;
}

static bool usb_term_match(const struct dp_rule_term *t, const struct dp_rule_usb_subject *s)
{
	char buf[16];
	switch (t->key) {
	case DP_RK_VENDOR:
		snprintf(buf, sizeof(buf), "%04x", s->vendor);
		return glob_any(&t->values, buf, 0);
	case DP_RK_DEVICE:
		snprintf(buf, sizeof(buf), "%04x", s->product);
		return glob_any(&t->values, buf, 0);
	case DP_RK_ID:
		snprintf(buf, sizeof(buf), "%04x:%04x", s->vendor, s->product);
		return glob_any(&t->values, buf, 0);
	case DP_RK_SERIAL: return *s->serial && glob_any(&t->values, s->serial, 0);
	case DP_RK_PORT: return glob_any(&t->values, s->port, 0);
	case DP_RK_CLASS: return usb_class_any(&t->values, s);
	case DP_RK_NAME: return glob_any(&t->values, s->name, FNM_CASEFOLD);
	case DP_RK_CONTROLLER: return glob_any(&t->values, s->controller, 0);
	default: return false;   /* a PCI key: dp_rule_check_type keeps these out */
	}
}

bool dp_rule_match_usb(const struct dp_rule *rule, const struct dp_rule_usb_subject *s)
{
	for (size_t i = 0; i < rule->n; i++)
		if (!usb_term_match(&rule->terms[i], s))
			return false;
	return rule->n > 0;
}

static bool mdev_term_match(const struct dp_rule_term *t, const struct dp_rule_mdev_subject *s)
{
	switch (t->key) {
	case DP_RK_PARENT: return glob_any(&t->values, s->parent, 0);
	case DP_RK_TYPE: return glob_any(&t->values, s->type, 0);
	case DP_RK_NAME: return glob_any(&t->values, s->name, FNM_CASEFOLD);
	default: return false;
	}
}

bool dp_rule_match_mdev(const struct dp_rule *rule, const struct dp_rule_mdev_subject *s)
{
	for (size_t i = 0; i < rule->n; i++)
		if (!mdev_term_match(&rule->terms[i], s))
			return false;
	return rule->n > 0;
}
