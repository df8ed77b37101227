#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "alloc-util.h"

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
	char text[2048];
	return cli_error(code, "%s", cli_error_text(text, sizeof(text)));
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

/* The terminal's width, or 0 when f is not a terminal (then nothing is cut). */
static size_t terminal_width(FILE *f)
{
	struct winsize ws;
	if (!isatty(fileno(f)))
		return 0;
	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *columns = getenv("COLUMNS");
	long n = columns ? strtol(columns, NULL, 10) : 0;
	return n > 0 && n < 10000 ? (size_t)n : 80;
}

/* Writes line (without its newline) cut to width display columns. */
static void line_fit(FILE *f, const char *line, size_t len, size_t width)
{
	size_t cols = 0, i;
	for (i = 0; i < len; i++)
		cols += ((unsigned char)line[i] & 0xc0) != 0x80;
	if (!width || cols <= width || width < 8) {
		fwrite(line, 1, len, f);
		return;
	}
	for (i = 0, cols = 0; i < len; i++) {
		if (((unsigned char)line[i] & 0xc0) != 0x80 && ++cols > width - 3)
			break;
	}
	fwrite(line, 1, i, f);
	fputs("...", f);
}

int cli_table_print_fitted(struct dp_table *t, FILE *f, bool wide)
{
	size_t width = wide ? 0 : terminal_width(f);
	if (!width)
		return dp_table_print(t, f, false);
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	if (!mem)
		return dp_table_print(t, f, false);
	int r = dp_table_print(t, mem, false);
	if (fclose(mem) != 0 || !text)
		return -1;
	for (const char *line = text; *line;) {
		size_t len = strcspn(line, "\n");
		line_fit(f, line, len, width);
		fputc('\n', f);
		line += len + (line[len] == '\n');
	}
	return r;
}
