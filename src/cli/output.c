#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("devpass: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

int cli_lib_error(int code)
{
	return cli_error(code, "%s", dp_error_message());
}

int cli_inventory_load(struct dp_pci_list *list, unsigned flags)
{
	if (dp_pci_scan_flags(list, flags) < 0)
		return cli_lib_error(EXIT_FAILED);
	dp_critical_mark(list);
	return 0;
}

void cli_json_add_device_summary(struct json_object *o, const struct dp_pci_device *dev)
{
	json_object_object_add(o, "address", json_object_new_string(dev->address));
	json_object_object_add(o, "description", json_object_new_string(dev->description));
	json_object_object_add(o, "driver", dev->driver[0] ? json_object_new_string(dev->driver) : NULL);
	json_object_object_add(o, "is_bridge", json_object_new_boolean(dp_pci_device_is_bridge(dev)));
	json_object_object_add(o, "host_critical", json_object_new_boolean(dev->critical.n > 0));
}

/* --timeout SEC, as every verb that writes to sysfs takes it */
int cli_timeout_parse(const char *text, int *timeout_ms)
{
	char *end;
	double sec = strtod(text, &end);
	if (*end || end == text || sec < 0.001 || sec > 3600)
		return cli_error(EXIT_USAGE, "--timeout takes seconds, 0.001 <= N <= 3600");
	*timeout_ms = (int)(sec * 1000);
	return 0;
}
