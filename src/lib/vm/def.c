/* A VM definition's values: its name, sizes, and the vfio-pci options a device may carry. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vm/vm.h"

#define MIB_MIN 64ULL
#define MIB_MAX (16ULL << 20)   /* 16 TiB */

int dp_vm_name_check(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > DP_VM_NAME_MAX)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "name",
		                           "a VM name has 1 to %d characters", DP_VM_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "name",
			                           "VM name '%.64s' has a character other than "
			                           "letters, digits, '.', '_' and '-'", name);
	if (name[0] == '.' || name[0] == '-')
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "name",
		                           "VM name '%s' starts with '%c'", name, name[0]);
	return 0;
}

/* the multiplier to MiB of a unit suffix, 0 when unknown */
static unsigned long long size_unit_mib(const char *unit)
{
	static const struct { const char *s; unsigned long long mib; } units[] = {
		{ "", 1 }, { "M", 1 }, { "MB", 1 }, { "MiB", 1 },
		{ "G", 1024 }, { "GB", 1024 }, { "GiB", 1024 },
		{ "T", 1024 * 1024 }, { "TB", 1024 * 1024 }, { "TiB", 1024 * 1024 },
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(unit, units[i].s) == 0)
			return units[i].mib;
	return 0;
}

int dp_vm_size_parse(const char *text, unsigned long long *mib)
{
	char *end = NULL;
	errno = 0;
	unsigned long long n = text && isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
	unsigned long long unit = end ? size_unit_mib(end) : 0;
	if (!end || errno || !unit || n > MIB_MAX / unit)
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "memory",
		                           "'%.40s' is not a memory size (examples: 512M, 16G)",
		                           text ? text : "");
	n *= unit;
	if (n < MIB_MIN || n > MIB_MAX)
		return dp_error_set_remedy(-ERANGE, DP_REMEDY_PARAMETER, "memory",
		                           "memory size %.40s is outside 64M..16T", text);
	*mib = n;
	return 0;
}

static int option_check(const char *key, const char *value)
{
	if (strcmp(key, "x-vga") == 0 || strcmp(key, "multifunction") == 0)
		return strcmp(value, "on") == 0 || strcmp(value, "off") == 0 ? 0 : -1;
	if (strcmp(key, "rombar") == 0)
		return strcmp(value, "0") == 0 || strcmp(value, "1") == 0 ? 0 : -1;
	if (strcmp(key, "romfile") == 0)   /* QEMU's option syntax takes ',' as a separator */
		return value[0] == '/' && !strchr(value, ',') && !strstr(value, "/../") ? 0 : -1;
	return -2;
}

int dp_vm_device_options_parse(const char *text, char *out, size_t size)
{
	char buf[256];
	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "options",
		                           "device options longer than %zu characters", sizeof(buf) - 1);
	out[0] = '\0';
	size_t used = 0;
	for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (eq)
			*eq = '\0';
		int r = eq ? option_check(kv, eq + 1) : -2;
		if (r == -2)
			return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "options",
			                           "unknown device option '%.40s' (known: x-vga=on|off, "
			                           "rombar=0|1, romfile=/PATH)", kv);
		if (r < 0)
			return dp_error_set_remedy(-EINVAL, DP_REMEDY_PARAMETER, "options",
			                           "device option %s has a bad value '%.80s'", kv, eq + 1);
		int n = snprintf(out + used, size - used, "%s%s=%s", used ? "," : "", kv, eq + 1);
		if (n < 0 || (size_t)n >= size - used)
			return dp_error_set(-ENAMETOOLONG, "device options too long");
		used += n;
	}
	return 0;
}
