/* devpass show ADDRESS — everything to know before passing one device through. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct dp_column show_columns[] = {
	{"address", "Address", DP_COL_TEXT, 0},
	{"description", "Description", DP_COL_TEXT, 0},
	{"ids", "IDs", DP_COL_TEXT, 0},
	{"names", "Names", 0, 0},
	{"revision", "Revision", DP_COL_TEXT, 0},
	{"driver", "Driver", DP_COL_TEXT, 0},
	{"original_driver", "Driver before devpass", DP_COL_TEXT, 0},
	{"driver_override", "Driver override", DP_COL_TEXT, 0},
	{"modules", "Kernel modules", DP_COL_TEXT, 0},
	{"iommu_group", "IOMMU group", DP_COL_TEXT, 0},
	{"vfio_group", "VFIO group", DP_COL_TEXT, 0},
	{"group_viable", "Group viable", DP_COL_TEXT, 0},
	{"group_not_viable_reasons", "Group blocked by", DP_COL_TEXT, 0},
	{"group_members", "Group members", DP_COL_TEXT, 0},
	{"numa_node", "NUMA node", DP_COL_TEXT, 0},
	{"local_cpus", "Local CPUs", DP_COL_TEXT, 0},
	{"pcie", "PCIe", DP_COL_TEXT, 0},
	{"reset", "Reset", DP_COL_TEXT, 0},
	{"acs", "ACS", DP_COL_TEXT, 0},
	{"sriov", "SR-IOV", DP_COL_TEXT, 0},
	{"usb_devices", "USB devices", DP_COL_TEXT, 0},
	{"boot_vga", "Boot VGA", DP_COL_TEXT, 0},
	{"rom", "Option ROM", DP_COL_TEXT, 0},
	{"serial", "Serial", DP_COL_TEXT, 0},
	{"parent", "Parent", DP_COL_TEXT, 0},
	{"sysfs_path", "Sysfs path", DP_COL_TEXT, 0},
	{"host_critical", "Host-critical", DP_COL_TEXT, 0},
	{"host_critical_reasons", "Host-critical because", DP_COL_TEXT, 0},
};

static struct json_object *str_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static struct json_object *hex(unsigned width, unsigned v)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%0*x", (int)width, v);
	return json_object_new_string(buf);
}

static struct json_object *strv_json(const struct dp_strv *sv)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < sv->n; i++)
		json_object_array_add(a, json_object_new_string(sv->v[i]));
	return a;
}

static struct json_object *ids_json(const struct dp_pci_device *d)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "vendor", hex(4, d->vendor));
	json_object_object_add(o, "device", hex(4, d->device));
	json_object_object_add(o, "subsystem_vendor", d->has_subsys ? hex(4, d->subsys_vendor) : NULL);
	json_object_object_add(o, "subsystem_device", d->has_subsys ? hex(4, d->subsys_device) : NULL);
	json_object_object_add(o, "class", hex(6, d->class_code));
	return o;
}

static struct json_object *names_json(const struct dp_pci_device *d)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "class", str_or_null(d->class_name));
	json_object_object_add(o, "vendor", str_or_null(d->vendor_name));
	json_object_object_add(o, "device", str_or_null(d->device_name));
	json_object_object_add(o, "subsystem_vendor", str_or_null(d->subsys_vendor_name));
	json_object_object_add(o, "subsystem_device", str_or_null(d->subsys_device_name));
	return o;
}

static struct json_object *pcie_json(const struct dp_pci_details *x)
{
	if (x->pcie_type < 0)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(dp_pcie_type_name(x->pcie_type)));
	if (x->link.present) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s x%u", dp_pcie_speed_name(x->link.cap_speed), x->link.cap_width);
		json_object_object_add(o, "link_capable", json_object_new_string(buf));
		snprintf(buf, sizeof(buf), "%s x%u", dp_pcie_speed_name(x->link.sta_speed), x->link.sta_width);
		json_object_object_add(o, "link_status", json_object_new_string(buf));
	}
	return o;
}

static bool has_word(const char *words, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = strstr(words, word); p; p = strstr(p + 1, word))
		if ((p == words || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* What the kernel offers (reset_method; without it, kernels before 5.15, the `reset`
 * attribute), which is what `devpass reset` goes by, and what config space says the
 * device can do. A bus reset of a function that shares its bus is only vfio's hot reset
 * of the whole bus, through the parent bridge or the slot. */
static struct json_object *reset_json(const struct dp_pci_list *list, const struct dp_pci_device *d,
                                      const struct dp_pci_details *x)
{
	char methods[128];
	bool offered = dp_reset_methods(d, methods, sizeof(methods)) == 0;
	bool bus_alone = x->reset_method_file ? has_word(x->reset_methods, "bus")
	                                      : d->parent[0] && !x->physfn[0] && !dp_reset_bus_shared(list, d);
	bool hot_reset = !bus_alone && d->parent[0] && !x->physfn[0] && dp_reset_bus_shared(list, d);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "kernel_methods",
	                       x->reset_method_file ? json_object_new_string(x->reset_methods) : NULL);
	json_object_object_add(o, "flr", json_object_new_boolean(x->flr || x->af_flr));
	json_object_object_add(o, "pm", json_object_new_boolean(x->pm_reset));
	json_object_object_add(o, "bus", json_object_new_boolean(bus_alone));
	json_object_object_add(o, "bus_reset", bus_alone ? json_object_new_string("this function alone")
	                       : hot_reset ? json_object_new_string("via vfio hot reset (shared bus: the "
	                                                            "parent or slot resets every function on it)")
	                       : NULL);
	json_object_object_add(o, "resettable", json_object_new_boolean(offered && (!x->reset_method_file ||
	                                                                            x->reset_methods[0])));
	return o;
}

static struct json_object *acs_json(const struct dp_pci_details *x)
{
	if (!x->acs)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "capability", hex(4, x->acs_cap));
	json_object_object_add(o, "control", hex(4, x->acs_ctrl));
	return o;
}

static struct json_object *sriov_json(const struct dp_pci_details *x)
{
	if (x->sriov_total < 0 && !x->physfn[0])
		return NULL;
	struct json_object *o = json_object_new_object();
	if (x->sriov_total >= 0) {
		json_object_object_add(o, "total_vfs", json_object_new_int(x->sriov_total));
		json_object_object_add(o, "num_vfs", json_object_new_int(x->sriov_num));
		json_object_object_add(o, "vfs", strv_json(&x->vfs));
	}
	if (x->physfn[0])
		json_object_object_add(o, "physfn", json_object_new_string(x->physfn));
	return o;
}

static struct json_object *serial_json(const struct dp_pci_details *x)
{
	char buf[32];
	if (x->nvme_serial[0])
		return json_object_new_string(x->nvme_serial);
	if (!x->has_dsn)
		return NULL;
	/* the form lspci -vv prints: bytes from most significant, dash-separated */
	snprintf(buf, sizeof(buf), "%02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x",
	         (unsigned)(x->dsn >> 56) & 0xff, (unsigned)(x->dsn >> 48) & 0xff,
	         (unsigned)(x->dsn >> 40) & 0xff, (unsigned)(x->dsn >> 32) & 0xff,
	         (unsigned)(x->dsn >> 24) & 0xff, (unsigned)(x->dsn >> 16) & 0xff,
	         (unsigned)(x->dsn >> 8) & 0xff, (unsigned)x->dsn & 0xff);
	return json_object_new_string(buf);
}

static void group_set(struct dp_table *t, const struct dp_pci_list *list, const struct dp_pci_device *d)
{
	struct dp_group_list groups;
	dp_groups_build(list, &groups);
	const struct dp_iommu_group *g = d->iommu_group >= 0 ? dp_groups_find(&groups, d->iommu_group) : NULL;
	if (g) {
		struct json_object *members = json_object_new_array();
		for (size_t k = 0; k < g->n; k++) {
			struct json_object *m = json_object_new_object();
			cli_json_add_device_summary(m, &list->dev[g->members[k]]);
			json_object_array_add(members, m);
		}
		dp_table_set_bool(t, "group_viable", g->viable);
		dp_table_set_strv(t, "group_not_viable_reasons", &g->not_viable_reasons);
		dp_table_set_json(t, "group_members", members);
	}
	dp_groups_free(&groups);
}

/* A USB controller takes every device on its buses along when it is passed: their
 * locations, ids and states (null for other functions). */
static void usb_devices_set(struct dp_table *t, const struct dp_pci_device *d)
{
	struct dp_usb_list usb;
	if ((d->class_code >> 8) != 0x0c03 || dp_usb_scan(&usb, 0) < 0)
		return;
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < usb.n; i++) {
		const struct dp_usb_device *u = &usb.d[i];
		char buf[128];
		if (strcmp(u->controller, d->address) != 0)
			continue;
		snprintf(buf, sizeof(buf), "%s %04x:%04x%s%s", u->location, u->vendor_id, u->product_id,
		         u->in_use ? " in-use" : "", u->critical ? " host-critical" : "");
		json_object_array_add(a, json_object_new_string(buf));
	}
	dp_table_set_json(t, "usb_devices", a);
	dp_usb_list_free(&usb);
}

static void record_fill(struct dp_table *t, const struct dp_pci_list *list,
                        const struct dp_pci_device *d, const struct dp_pci_details *x)
{
	dp_table_add_row(t);
	dp_table_set_str(t, "address", d->address);
	dp_table_set_str(t, "description", d->description);
	dp_table_set_json(t, "ids", ids_json(d));
	dp_table_set_json(t, "names", names_json(d));
	dp_table_set_json(t, "revision", hex(2, d->revision));
	dp_table_set_json(t, "driver", str_or_null(d->driver));
	char was[64];
	dp_ledger_original_driver(d->address, was);
	dp_table_set_json(t, "original_driver", str_or_null(was));
	dp_table_set_json(t, "driver_override", str_or_null(x->driver_override));
	dp_table_set_strv(t, "modules", &x->modules);
	if (d->iommu_group >= 0)
		dp_table_set_int(t, "iommu_group", d->iommu_group);
	if (d->vfio_node)
		dp_table_set_strf(t, "vfio_group", "/dev/vfio/%d", d->iommu_group);
	group_set(t, list, d);
	if (d->numa_node >= 0)
		dp_table_set_int(t, "numa_node", d->numa_node);
	dp_table_set_json(t, "local_cpus", str_or_null(x->local_cpulist));
	dp_table_set_json(t, "pcie", pcie_json(x));
	dp_table_set_json(t, "reset", reset_json(list, d, x));
	dp_table_set_json(t, "acs", acs_json(x));
	dp_table_set_json(t, "sriov", sriov_json(x));
	usb_devices_set(t, d);
	if (x->boot_vga >= 0)
		dp_table_set_bool(t, "boot_vga", x->boot_vga == 1);
	dp_table_set_bool(t, "rom", x->rom);
	dp_table_set_json(t, "serial", serial_json(x));
	dp_table_set_json(t, "parent", str_or_null(d->parent));
	dp_table_set_strf(t, "sysfs_path", "/%s", d->sysfs_path);
	dp_table_set_bool(t, "host_critical", d->critical.n > 0);
	dp_table_set_strv(t, "host_critical_reasons", &d->critical);
}

/* --format libvirt: the node-device XML instead of the record */
static int show_libvirt(const struct dp_pci_list *list, const char *address)
{
	char *xml = NULL;
	if (dp_nodedev_xml(list, address, &xml) < 0)
		return cli_lib_error(EXIT_FAILED);
	fputs(xml, stdout);
	free(xml);
	return EXIT_OK;
}

static int show_parse(int argc, char **argv, struct cli_opts *p, const char **format)
{
	static const struct cli_option opts[] = {{"format", 0, true, 'f'}, {NULL, 0, false, 0}};
	int c;
	cli_opts_init(p, argc, argv, "show", opts);
	while ((c = cli_opts_next(p)) > 0)
		*format = p->value;
	if (c < 0)
		return p->exit;
	if (*format && strcmp(*format, "libvirt") != 0)
		return cli_error(EXIT_USAGE, "--format: 'libvirt' is the one format besides the record "
		                 "(and --json), not '%s'", *format);
	return EXIT_OK;
}

int cmd_show(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	const char *format = NULL;
	int r = show_parse(argc, argv, &p, &format);
	if (r)
		return r;
	if (p.nargs != 1)
		return cli_error(EXIT_USAGE, "devpass show takes one address%s (for example 0000:01:00.0)",
		                 p.nargs ? ", not several: run it once per device" : "");
	const char *address = p.args[0];
	struct dp_pci_addr addr;
	if (dp_pci_addr_parse(address, &addr) < 0)
		return cli_lib_error(EXIT_USAGE);
	struct dp_pci_list list = {0};
	if ((r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	if (format) {
		r = show_libvirt(&list, address);
		dp_pci_list_free(&list);
		return r;
	}
	struct dp_pci_device *dev;
	if (dp_pci_device_lookup(&list, address, &dev) < 0) {
		dp_pci_list_free(&list);
		return cli_lib_error(EXIT_FAILED);
	}
	struct dp_pci_details details;
	dp_pci_details_read(dev, &details);
	struct dp_table *t = dp_table_new(show_columns, sizeof(show_columns) / sizeof(show_columns[0]));
	record_fill(t, &list, dev, &details);
	dp_table_print_record(t, stdout, ctx->json);
	dp_table_free(t);
	dp_pci_details_free(&details);
	dp_pci_list_free(&list);
	return EXIT_OK;
}
