/* devpass usb — the host's USB devices: where each is plugged, what it is, which driver
 * holds each interface, the controller it hangs off, and whether it is free to pass. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The text table: what a person scans for */
static const struct dp_column text_columns[] = {
	{"location", "LOCATION", DP_COL_TEXT, 0},
	{"id", "ID", DP_COL_TEXT, 0},
	{"name", "NAME", DP_COL_TEXT | DP_COL_ELLIPSIZE, 40},
	{"serial", "SERIAL", DP_COL_TEXT, 0},
	{"speed", "SPEED", DP_COL_TEXT, 0},
	{"class", "CLASS", DP_COL_TEXT, 0},
	{"drivers", "DRIVERS", DP_COL_TEXT, 0},
	{"controller", "CONTROLLER", DP_COL_TEXT, 0},
	{"state", "STATE", DP_COL_TEXT, 0},
};

/* JSON: every fact, as programs want them */
static const struct dp_column json_columns[] = {
	{"location", "LOCATION", 0, 0}, {"busnum", "BUS", 0, 0}, {"devnum", "DEVNUM", 0, 0},
	{"devpath", "DEVPATH", 0, 0}, {"vendor_id", "VENDOR ID", 0, 0},
	{"product_id", "PRODUCT ID", 0, 0}, {"vendor", "VENDOR", 0, 0}, {"product", "PRODUCT", 0, 0},
	{"serial", "SERIAL", 0, 0}, {"speed", "SPEED", 0, 0}, {"class", "CLASS", 0, 0},
	{"class_name", "CLASS NAME", 0, 0}, {"hub", "HUB", 0, 0},
	{"interfaces", "INTERFACES", 0, 0}, {"controller", "CONTROLLER", 0, 0},
	{"controller_pci", "CONTROLLER PCI", 0, 0}, {"in_use", "IN USE", 0, 0},
	{"in_use_by", "IN USE BY", 0, 0}, {"critical", "CRITICAL", 0, 0},
	{"critical_reason", "CRITICAL REASON", 0, 0},
};

/* `usb show` as text: the record of one device */
static const struct dp_column show_columns[] = {
	{"location", "Location", DP_COL_TEXT, 0}, {"id", "ID", DP_COL_TEXT, 0},
	{"vendor", "Vendor", DP_COL_TEXT, 0}, {"product", "Product", DP_COL_TEXT, 0},
	{"serial", "Serial", DP_COL_TEXT, 0}, {"speed", "Speed (Mbit/s)", DP_COL_TEXT, 0},
	{"class", "Class", DP_COL_TEXT, 0}, {"bus", "Bus/Device", DP_COL_TEXT, 0},
	{"interfaces", "Interfaces", DP_COL_TEXT, 0}, {"controller", "Controller", DP_COL_TEXT, 0},
	{"state", "State", DP_COL_TEXT, 0}, {"why", "Why", DP_COL_TEXT, 0},
};

/* USB-IF base class codes */
static const char *class_name(uint8_t cls)
{
	switch (cls) {
	case 0x00: return "per-interface";
	case 0x01: return "audio";
	case 0x02: return "comm";
	case 0x03: return "hid";
	case 0x05: return "physical";
	case 0x06: return "image";
	case 0x07: return "printer";
	case 0x08: return "storage";
	case 0x09: return "hub";
	case 0x0a: return "cdc-data";
	case 0x0b: return "smart-card";
	case 0x0d: return "security";
	case 0x0e: return "video";
	case 0x0f: return "healthcare";
	case 0x10: return "audio-video";
	case 0xdc: return "diagnostic";
	case 0xe0: return "wireless";
	case 0xef: return "misc";
	case 0xfe: return "app-specific";
	case 0xff: return "vendor";
	default: return "other";
	}
}

/* What a device is: its own class, else that of its first interface (a keyboard's
 * class is on the interface), a boot keyboard or mouse named as such. */
static void class_text(const struct dp_usb_device *d, char *buf, size_t size)
{
	const struct dp_usb_interface *first = d->nifs ? &d->ifs[0] : NULL;
	if (d->cls != 0x00 || !first) {
		snprintf(buf, size, "%s", class_name(d->cls));
		return;
	}
	const char *boot = first->cls == 0x03 && first->subclass == 0x01
	                   ? (first->protocol == 0x01 ? "(keyboard)" : first->protocol == 0x02 ? "(mouse)" : "")
	                   : "";
	snprintf(buf, size, "%s%s", class_name(first->cls), boot);
}

static const char *state_text(const struct dp_usb_device *d)
{
	return d->in_use ? "in-use" : d->critical ? "host-critical" : "free";
}

/* The interface drivers, each once, in interface order */
static void drivers_text(const struct dp_usb_device *d, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < d->nifs; i++) {
		const char *drv = d->ifs[i].driver;
		bool seen = !drv[0];
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(d->ifs[k].driver, drv) == 0;
		if (!seen && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "", drv);
	}
}

static void name_text(const struct dp_usb_device *d, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", d->vendor, d->vendor[0] && d->product[0] ? " " : "", d->product);
}

static void text_row(struct dp_table *t, const struct dp_usb_device *d)
{
	char buf[512];
	dp_table_add_row(t);
	dp_table_set_str(t, "location", d->location);
	dp_table_set_strf(t, "id", "%04x:%04x", d->vendor_id, d->product_id);
	name_text(d, buf, sizeof(buf));
	dp_table_set_str(t, "name", buf[0] ? buf : "-");
	dp_table_set_str(t, "serial", d->has_serial ? d->serial : "-");
	dp_table_set_str(t, "speed", d->speed[0] ? d->speed : "-");
	class_text(d, buf, sizeof(buf));
	dp_table_set_str(t, "class", buf);
	drivers_text(d, buf, sizeof(buf));
	dp_table_set_str(t, "drivers", buf[0] ? buf : "-");
	dp_table_set_str(t, "controller", d->controller[0] ? d->controller : "-");
	dp_table_set_str(t, "state", state_text(d));
}

static struct json_object *interfaces_json(const struct dp_usb_device *d)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < d->nifs; i++) {
		const struct dp_usb_interface *it = &d->ifs[i];
		struct json_object *o = json_object_new_object();
		char cls[16];
		snprintf(cls, sizeof(cls), "%02x/%02x/%02x", it->cls, it->subclass, it->protocol);
		json_object_object_add(o, "name", json_object_new_string(it->name));
		json_object_object_add(o, "class", json_object_new_string(cls));
		json_object_object_add(o, "driver", it->driver[0] ? json_object_new_string(it->driver) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

static void json_row(struct dp_table *t, const struct dp_usb_device *d)
{
	char buf[64];
	dp_table_add_row(t);
	dp_table_set_str(t, "location", d->location);
	dp_table_set_int(t, "busnum", d->busnum);
	dp_table_set_int(t, "devnum", d->devnum);
	dp_table_set_str(t, "devpath", d->devpath);
	dp_table_set_strf(t, "vendor_id", "%04x", d->vendor_id);
	dp_table_set_strf(t, "product_id", "%04x", d->product_id);
	dp_table_set_str(t, "vendor", d->vendor);
	dp_table_set_str(t, "product", d->product);
	dp_table_set_str(t, "serial", d->has_serial ? d->serial : NULL);
	dp_table_set_str(t, "speed", d->speed[0] ? d->speed : NULL);
	dp_table_set_strf(t, "class", "%02x", d->cls);
	class_text(d, buf, sizeof(buf));
	dp_table_set_str(t, "class_name", buf);
	dp_table_set_bool(t, "hub", d->hub);
	dp_table_set_json(t, "interfaces", interfaces_json(d));
	dp_table_set_str(t, "controller", d->controller[0] ? d->controller : NULL);
	dp_table_set_bool(t, "controller_pci", d->controller_pci);
	dp_table_set_bool(t, "in_use", d->in_use);
	dp_table_set_str(t, "in_use_by", d->in_use ? d->in_use_by : NULL);
	dp_table_set_bool(t, "critical", d->critical);
	dp_table_set_str(t, "critical_reason", d->critical_reason);
}

static int scan(struct dp_usb_list *list, unsigned flags)
{
	int r = dp_usb_scan(list, flags);
	return r < 0 ? cli_lib_error(EXIT_FAILED) : 0;
}

/* ---- usb list ----------------------------------------------------------------------- */

static int usb_list(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct cli_option options[] = {{"all", 'a', false, 'a'}, {NULL, 0, false, 0}};
	struct cli_opts p;
	cli_opts_init(&p, argc, argv, "usb list", options);
	unsigned flags = 0;
	int c;
	while ((c = cli_opts_next(&p)) > 0)
		if (c == 'a')
			flags |= DP_USB_SCAN_ROOT_HUBS;
	if (c < 0)
		return p.exit;
	int r = cli_opts_count(&p, 0, 0, "");
	struct dp_usb_list list;
	if (r || (r = scan(&list, flags)))
		return r;
	struct dp_table *t = ctx->json ? dp_table_new(json_columns, sizeof(json_columns) / sizeof(json_columns[0]))
	                               : dp_table_new(text_columns, sizeof(text_columns) / sizeof(text_columns[0]));
	for (size_t i = 0; i < list.n; i++)
		(ctx->json ? json_row : text_row)(t, &list.d[i]);
	if (list.n == 0 && !ctx->json)
		printf("No USB devices.\n");
	else if (ctx->json)
		dp_table_print(t, stdout, true);
	else
		cli_table_print_fitted(t, stdout, false);
	dp_table_free(t);
	dp_usb_list_free(&list);
	return EXIT_OK;
}

/* ---- usb show ----------------------------------------------------------------------- */

static void interfaces_text(const struct dp_usb_device *d, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < d->nifs && len < size; i++) {
		const struct dp_usb_interface *it = &d->ifs[i];
		len += (size_t)snprintf(buf + len, size - len, "%s%s %s (%02x/%02x/%02x) %s", i ? "; " : "",
		                        it->name, class_name(it->cls), it->cls, it->subclass, it->protocol,
		                        it->driver[0] ? it->driver : "no driver");
	}
}

static void show_row(struct dp_table *t, const struct dp_usb_device *d)
{
	char buf[1024];
	dp_table_add_row(t);
	dp_table_set_str(t, "location", d->location);
	dp_table_set_strf(t, "id", "%04x:%04x", d->vendor_id, d->product_id);
	dp_table_set_str(t, "vendor", d->vendor[0] ? d->vendor : "-");
	dp_table_set_str(t, "product", d->product[0] ? d->product : "-");
	dp_table_set_str(t, "serial", d->has_serial ? d->serial : "- (none: match it by location)");
	dp_table_set_str(t, "speed", d->speed[0] ? d->speed : "-");
	class_text(d, buf, sizeof(buf));
	dp_table_set_strf(t, "class", "%s (%02x/%02x/%02x)%s", buf, d->cls, d->subclass, d->protocol,
	                  d->hub ? ", a hub: QEMU cannot pass it, pass its controller instead" : "");
	dp_table_set_strf(t, "bus", "%03d/%03d", d->busnum, d->devnum);
	interfaces_text(d, buf, sizeof(buf));
	dp_table_set_str(t, "interfaces", buf[0] ? buf : "-");
	dp_table_set_strf(t, "controller", "%s%s", d->controller[0] ? d->controller : "-",
	                  d->controller_pci ? " (PCI)" : d->controller[0] ? " (platform)" : "");
	dp_table_set_str(t, "state", state_text(d));
	dp_table_set_str(t, "why", d->in_use ? "an interface is claimed through usbfs (a process such as QEMU holds it)"
	                           : d->critical ? d->critical_reason : "-");
}

static int usb_show(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	int r = cli_opts_none(argc, argv, "usb show", 1, 1, &p);
	if (r)
		return r;
	struct dp_usb_list list;
	struct dp_usb_device *d;
	if ((r = scan(&list, DP_USB_SCAN_ROOT_HUBS)))
		return r;
	if ((r = dp_usb_lookup(&list, p.args[0], &d)) < 0) {
		dp_usb_list_free(&list);
		return cli_lib_error(cli_exit_for(r));
	}
	struct dp_table *t = ctx->json ? dp_table_new(json_columns, sizeof(json_columns) / sizeof(json_columns[0]))
	                               : dp_table_new(show_columns, sizeof(show_columns) / sizeof(show_columns[0]));
	(ctx->json ? json_row : show_row)(t, d);
	dp_table_print_record(t, stdout, ctx->json);
	dp_table_free(t);
	dp_usb_list_free(&list);
	return EXIT_OK;
}

/* ---- dispatch ------------------------------------------------------------------------ */

static const struct cli_verb usb_verbs[] = {
	{"list", usb_list, NULL, NULL},
	{"show", usb_show, NULL, NULL},
};

int cmd_usb(int argc, char **argv, const struct cli_ctx *ctx)
{
	if (argc >= 2 && argv[1][0] == '-') {   /* usb --help, or an option before the sub-command */
		struct cli_opts p;
		int r = cli_opts_none(2, argv, "usb", 0, 0, &p);
		if (r)
			return r;
	}
	if (argc < 2 || argv[1][0] == '-')
		return cli_error(EXIT_USAGE, "devpass usb needs a sub-command first: list or show "
		                 "(devpass usb --help)");
	for (size_t i = 0; i < sizeof(usb_verbs) / sizeof(usb_verbs[0]); i++)
		if (strcmp(usb_verbs[i].name, argv[1]) == 0)
			return usb_verbs[i].run(argc - 1, argv + 1, ctx);
	return cli_error(EXIT_USAGE, "unknown usb sub-command '%.100s': list or show (devpass usb --help)",
	                 argv[1]);
}
