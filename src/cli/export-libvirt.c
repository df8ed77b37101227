/* devpass export libvirt — <hostdev> elements (and <interface type='hostdev'> for VFs with
 * a MAC or VLAN) for devices, an owner's claims or a devpass VM, with q35 guest addresses
 * that keep a host slot's functions together. Text: the XML to paste into `virsh edit`;
 * --json: one row per element. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "cli.h"

#define FIRST_BUS_DEFAULT 0x10   /* above the buses a domain's own devices use */

DEFINE_CLEANUP_STRUCT(dp_hostdev_set, dp_hostdev_set_free)

struct libvirt_request {
	const char *owner, *vm;
	bool no_address;
	int first_bus;
};

static int first_bus_parse(const char *text, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 0);
	if (errno || end == text || *end || v < 1 || v > 0xff)
		return cli_error(EXIT_USAGE, "--first-bus: '%s' is not a guest bus between 1 and 0xff "
		                 "(bus 0 is the root complex)", text);
	*out = (int)v;
	return 0;
}

static int request_check(const struct libvirt_request *q, size_t naddrs)
{
	int sources = (naddrs > 0) + (q->owner != NULL) + (q->vm != NULL);
	if (sources != 1)
		return cli_error(EXIT_USAGE, "usage: devpass export libvirt ADDR... | --owner OWNER | "
		                 "--vm NAME [--no-address] [--first-bus N]%s",
		                 sources ? " (one of the three)" : "");
	if ((q->owner && !*q->owner) || (q->vm && !*q->vm))
		return cli_error(EXIT_USAGE, "--%s needs a name", q->owner ? "owner" : "vm");
	return 0;
}

static const char *kind_name(enum dp_hostdev_kind k)
{
	static const char *const names[] = {"pci", "usb", "mdev", "net"};
	return names[k];
}

static const struct dp_column libvirt_columns[] = {
	{"kind", "KIND", DP_COL_TEXT, 0},       {"address", "ADDRESS", DP_COL_TEXT, 0},
	{"uuid", "UUID", 0, 0},                 {"vendor", "VENDOR", 0, 0},
	{"product", "PRODUCT", 0, 0},           {"alias", "ALIAS", DP_COL_TEXT, 0},
	{"pool", "POOL", DP_COL_TEXT, 0},       {"group", "GROUP", DP_COL_TEXT, 0},
	{"guest", "GUEST", 0, 0},               {"xml", "XML", 0, 0},
};

static struct json_object *guest_json(const struct dp_hostdev *h, bool no_address)
{
	if (!h->guest.set || no_address)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "bus", json_object_new_int(h->guest.bus));
	json_object_object_add(o, "slot", json_object_new_int(h->guest.slot));
	json_object_object_add(o, "function", json_object_new_int(h->guest.function));
	json_object_object_add(o, "multifunction", json_object_new_boolean(h->guest.multifunction));
	return o;
}

static void row_identity(struct dp_table *t, const struct dp_hostdev *h)
{
	if (h->kind == DP_HOSTDEV_USB) {
		dp_table_set_strf(t, "vendor", "%04x", h->usb_vendor);
		dp_table_set_strf(t, "product", "%04x", h->usb_product);
	} else if (h->kind == DP_HOSTDEV_MDEV) {
		dp_table_set_str(t, "uuid", h->uuid);
	} else {
		dp_table_set_str(t, "address", h->address);
	}
}

static int row_add(struct dp_table *t, const struct dp_hostdev *h, unsigned flags)
{
	_cleanup_free_ char *xml = NULL;
	int r = dp_hostdev_xml(h, flags, &xml);
	if (r < 0)
		return r;
	dp_table_add_row(t);
	dp_table_set_str(t, "kind", kind_name(h->kind));
	row_identity(t, h);
	dp_table_set_str(t, "alias", h->alias);
	dp_table_set_str(t, "pool", h->pool[0] ? h->pool : NULL);
	if (h->group >= 0)
		dp_table_set_int(t, "group", h->group);
	dp_table_set_json(t, "guest", guest_json(h, flags & DP_HOSTDEV_XML_NO_ADDRESS));
	dp_table_set_str(t, "xml", xml);
	return 0;
}

static int print_json(const struct dp_hostdev_set *s, unsigned flags)
{
	struct dp_table *t = dp_table_new(libvirt_columns, sizeof(libvirt_columns) / sizeof(libvirt_columns[0]));
	if (!t)
		return dp_error_set(-ENOMEM, "out of memory");
	int r = 0;
	for (size_t i = 0; r == 0 && i < s->n; i++)
		r = row_add(t, &s->h[i], flags);
	if (r == 0)
		dp_table_print(t, stdout, true);
	dp_table_free(t);
	return r;
}

static int print_text(const struct dp_hostdev_set *s, unsigned flags)
{
	_cleanup_free_ char *xml = NULL;
	int r = dp_hostdev_set_xml(s, flags, &xml);
	if (r == 0)
		fputs(xml, stdout);
	return r;
}

static int set_build(const struct dp_pci_list *list, const struct libvirt_request *q,
                     char *const *addrs, size_t naddrs, struct dp_hostdev_set *s)
{
	if (q->owner)
		return dp_hostdev_set_from_owner(list, q->owner, s);
	if (q->vm)
		return dp_hostdev_set_from_vm(list, q->vm, s);
	return dp_hostdev_set_from_devices(list, addrs, naddrs, s);
}

static int export_run(const struct libvirt_request *q, char *const *addrs, size_t naddrs,
                      const struct cli_ctx *ctx)
{
	_cleanup_(dp_pci_list_freep) struct dp_pci_list list = {0};
	_cleanup_(dp_hostdev_set_freep) struct dp_hostdev_set s = {0};
	int r = cli_inventory_load(&list, DP_SCAN_NAMES);
	if (r)
		return r;
	unsigned flags = q->no_address ? DP_HOSTDEV_XML_NO_ADDRESS : 0;
	r = set_build(&list, q, addrs, naddrs, &s);
	if (r == 0 && !q->no_address)
		r = dp_hostdev_set_place(&s, q->first_bus);
	for (size_t i = 0; i < s.warnings.n; i++)
		fprintf(stderr, "devpass: %s\n", s.warnings.v[i]);
	if (r == 0)
		r = ctx->json ? print_json(&s, flags) : print_text(&s, flags);
	return r < 0 ? cli_lib_error(cli_exit_for(r)) : EXIT_OK;
}

int cmd_export_libvirt(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct cli_option opts[] = {
		{"owner", 0, true, 'o'}, {"vm", 0, true, 'v'}, {"no-address", 0, false, 'n'},
		{"first-bus", 0, true, 'b'}, {NULL, 0, false, 0}};
	struct libvirt_request q = {.first_bus = FIRST_BUS_DEFAULT};
	struct cli_opts p;
	int c, r = 0;
	cli_opts_init(&p, argc, argv, "export libvirt", opts);
	while (r == 0 && (c = cli_opts_next(&p)) > 0) {
		switch (c) {
		case 'o': q.owner = p.value; break;
		case 'v': q.vm = p.value; break;
		case 'n': q.no_address = true; break;
		case 'b': r = first_bus_parse(p.value, &q.first_bus); break;
		}
	}
	if (r)
		return r;
	if (c < 0)
		return p.exit;
	/* args[0] is "libvirt" */
	if ((r = request_check(&q, p.nargs - 1)))
		return r;
	return export_run(&q, p.args + 1, p.nargs - 1, ctx);
}
