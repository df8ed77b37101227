/* devpass list — one row per PCI function, or the bus tree with --tree. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "alloc-util.h"

static const struct dp_column list_columns[] = {
	{"address", "ADDRESS", DP_COL_TEXT, 0},
	{"class", "CLASS", DP_COL_TEXT, 0},
	{"vendor", "VENDOR", DP_COL_TEXT, 0},
	{"device", "DEVICE", DP_COL_TEXT, 0},
	{"description", "DESCRIPTION", 0, 0},
	{"iommu_group", "IOMMU", DP_COL_TEXT, 0},
	{"vfio_group", "VFIO", DP_COL_TEXT, 0},
	{"driver", "DRIVER", DP_COL_TEXT, 0},
	{"original_driver", "WAS", DP_COL_TEXT, 0},
	{"numa_node", "NUMA", DP_COL_TEXT, 0},
	{"host_critical", "CRITICAL", DP_COL_TEXT, 0},
	{"prog_if", "PROGIF", 0, 0},
	{"subsystem_vendor", "SVENDOR", 0, 0},
	{"subsystem_device", "SDEVICE", 0, 0},
	{"revision", "REV", 0, 0},
	{"class_name", "CLASS NAME", 0, 0},
	{"vendor_name", "VENDOR NAME", 0, 0},
	{"device_name", "DEVICE NAME", 0, 0},
	{"subsystem_vendor_name", "SVENDOR NAME", 0, 0},
	{"subsystem_device_name", "SDEVICE NAME", 0, 0},
	{"modalias", "MODALIAS", 0, 0},
	{"parent", "PARENT", 0, 0},
	{"is_bridge", "BRIDGE", 0, 0},
	{"host_critical_reasons", "REASONS", 0, 0},
};

/* text: the free-text column last, so a narrow terminal cuts only the description */
static const struct dp_column text_columns[] = {
	{"address", "ADDRESS", DP_COL_TEXT, 0},
	{"class", "CLASS", DP_COL_TEXT, 0},
	{"vendor", "VENDOR", DP_COL_TEXT, 0},
	{"device", "DEVICE", DP_COL_TEXT, 0},
	{"iommu_group", "IOMMU", DP_COL_TEXT, 0},
	{"vfio_group", "VFIO", DP_COL_TEXT, 0},
	{"driver", "DRIVER", DP_COL_TEXT, 0},
	{"original_driver", "WAS", DP_COL_TEXT, 0},
	{"numa_node", "NUMA", DP_COL_TEXT, 0},
	{"host_critical", "CRITICAL", DP_COL_TEXT, 0},
	{"description", "DESCRIPTION", DP_COL_TEXT, 0},
};

static const struct dp_column tree_columns[] = {
	{"tree", "TREE", DP_COL_TEXT, 0},
	{"address", "ADDRESS", 0, 0},
	{"depth", "DEPTH", 0, 0},
	{"parent", "PARENT", 0, 0},
	{"description", "DESCRIPTION", DP_COL_TEXT, 0},
	{"iommu_group", "IOMMU", DP_COL_TEXT, 0},
	{"driver", "DRIVER", DP_COL_TEXT, 0},
	{"host_critical", "CRITICAL", DP_COL_TEXT, 0},
};

/* the same keys, the description last in the text (the JSON keeps its order) */
static const struct dp_column tree_text_columns[] = {
	{"tree", "TREE", DP_COL_TEXT, 0},
	{"address", "ADDRESS", 0, 0},
	{"depth", "DEPTH", 0, 0},
	{"parent", "PARENT", 0, 0},
	{"iommu_group", "IOMMU", DP_COL_TEXT, 0},
	{"driver", "DRIVER", DP_COL_TEXT, 0},
	{"host_critical", "CRITICAL", DP_COL_TEXT, 0},
	{"description", "DESCRIPTION", DP_COL_TEXT, 0},
};

static void set_hex(struct dp_table *t, const char *key, unsigned width, unsigned value)
{
	static const char digits[] = "0123456789abcdef";
	char buf[9];
	buf[width] = '\0';
	for (unsigned i = width; i-- > 0; value >>= 4)
		buf[i] = digits[value & 0xf];
	dp_table_set_str(t, key, buf);
}

static void set_opt_str(struct dp_table *t, const char *key, const char *s)
{
	dp_table_set_str(t, key, s && *s ? s : NULL);
}

static void set_opt_int(struct dp_table *t, const char *key, int v)
{
	if (v >= 0)
		dp_table_set_int(t, key, v);
}

/* The cells the text table and the JSON share (cells are placed by key, not by order). */
static void row_common_add(struct dp_table *t, const struct dp_pci_device *d, const char *was)
{
	dp_table_add_row(t);
	dp_table_set_str(t, "address", d->address);
	set_hex(t, "class", 4, d->class_code >> 8);
	set_hex(t, "vendor", 4, d->vendor);
	set_hex(t, "device", 4, d->device);
	set_opt_int(t, "iommu_group", d->iommu_group);
	if (d->vfio_node)
		dp_table_set_strf(t, "vfio_group", "/dev/vfio/%d", d->iommu_group);
	set_opt_str(t, "driver", d->driver);
	set_opt_str(t, "original_driver", was);
	set_opt_int(t, "numa_node", d->numa_node);
	dp_table_set_bool(t, "host_critical", d->critical.n > 0);
}

static void row_add(struct dp_table *t, const struct dp_pci_device *d, const char *was)
{
	row_common_add(t, d, was);
	dp_table_set_str(t, "description", d->description);
	set_hex(t, "prog_if", 2, d->class_code & 0xff);
	if (d->has_subsys) {
		set_hex(t, "subsystem_vendor", 4, d->subsys_vendor);
		set_hex(t, "subsystem_device", 4, d->subsys_device);
	}
	set_hex(t, "revision", 2, d->revision);
	dp_table_set_str(t, "class_name", d->class_name);
	dp_table_set_str(t, "vendor_name", d->vendor_name);
	dp_table_set_str(t, "device_name", d->device_name);
	dp_table_set_str(t, "subsystem_vendor_name", d->subsys_vendor_name);
	dp_table_set_str(t, "subsystem_device_name", d->subsys_device_name);
	dp_table_set_str(t, "modalias", d->modalias);
	set_opt_str(t, "parent", d->parent);
	dp_table_set_bool(t, "is_bridge", dp_pci_device_is_bridge(d));
	dp_table_set_strv(t, "host_critical_reasons", &d->critical);
}

/* ---- --tree -------------------------------------------------------------------- */

struct tree {
	const struct dp_pci_list *list;
	const bool *keep;
	size_t *parent;          /* index of the parent, or SIZE_MAX on a root bus */
	struct dp_table *t;
};

static bool is_last_child(const struct tree *tr, size_t i)
{
	for (size_t j = i + 1; j < tr->list->n; j++)
		if (tr->keep[j] && tr->parent[j] == tr->parent[i] &&
		    (tr->parent[i] != SIZE_MAX ||
		     (tr->list->dev[j].addr.domain == tr->list->dev[i].addr.domain &&
		      tr->list->dev[j].addr.bus == tr->list->dev[i].addr.bus)))
			return false;
	return true;
}

static void tree_row(struct tree *tr, size_t i, const char *prefix, int depth)
{
	const struct dp_pci_device *d = &tr->list->dev[i];
	bool last = is_last_child(tr, i);
	dp_table_add_row(tr->t);
	dp_table_set_strf(tr->t, "tree", "%s%s %s", prefix, last ? "└─" : "├─", d->address);
	dp_table_set_str(tr->t, "address", d->address);
	dp_table_set_int(tr->t, "depth", depth);
	set_opt_str(tr->t, "parent", d->parent);
	dp_table_set_str(tr->t, "description", d->description);
	set_opt_int(tr->t, "iommu_group", d->iommu_group);
	set_opt_str(tr->t, "driver", d->driver);
	dp_table_set_bool(tr->t, "host_critical", d->critical.n > 0);
	char child_prefix[256];
	snprintf(child_prefix, sizeof(child_prefix), "%s%s", prefix, last ? "   " : "│  ");
	for (size_t j = 0; j < tr->list->n; j++)
		if (tr->keep[j] && tr->parent[j] == i)
			tree_row(tr, j, child_prefix, depth + 1);
}

static int tree_build(const struct dp_pci_list *list, bool *keep, struct dp_table *t)
{
	_cleanup_free_ size_t *parent = calloc(list->n + 1, sizeof(size_t));
	if (!parent)
		return -ENOMEM;
	struct tree tr = {list, keep, parent, t};
	for (size_t i = 0; i < list->n; i++) {
		struct dp_pci_device *p = list->dev[i].parent[0] ? dp_pci_list_find(list, list->dev[i].parent) : NULL;
		tr.parent[i] = p ? (size_t)(p - list->dev) : SIZE_MAX;
	}
	/* a kept device keeps the bridges above it, so the path to it stays visible */
	for (size_t i = 0; i < list->n; i++)
		for (size_t j = i; keep[i] && tr.parent[j] != SIZE_MAX; j = tr.parent[j])
			keep[tr.parent[j]] = true;
	int last_domain = -1, last_bus = -1;
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *d = &list->dev[i];
		if (!keep[i] || tr.parent[i] != SIZE_MAX)
			continue;
		if ((int)d->addr.domain != last_domain || (int)d->addr.bus != last_bus) {
			dp_table_add_row(t);
			dp_table_set_strf(t, "tree", "[%04x:%02x]", d->addr.domain, d->addr.bus);
			dp_table_set_int(t, "depth", 0);
			dp_table_set_str(t, "description", "PCI root bus");
			last_domain = (int)d->addr.domain;
			last_bus = (int)d->addr.bus;
		}
		tree_row(&tr, i, "", 1);
	}
	return 0;
}

/* ---- options ------------------------------------------------------------------- */

enum { OPT_CLASS = 1, OPT_VENDOR, OPT_DEVICE, OPT_DRIVER, OPT_GROUP, OPT_SLOT, OPT_TREE, OPT_WIDE };

struct list_args {
	struct dp_pci_filter filter;
	bool tree, wide;
};

static int filter_add(struct dp_pci_filter *f, int id, const char *value)
{
	switch (id) {
	case OPT_CLASS: return dp_filter_add_class(f, value);
	case OPT_VENDOR: return dp_filter_add_vendor(f, value);
	case OPT_DEVICE: return dp_filter_add_device(f, value);
	case OPT_DRIVER: return dp_filter_add_driver(f, value);
	case OPT_GROUP: return dp_filter_add_group(f, value);
	default: return dp_filter_add_selector(f, value);
	}
}

static int options_parse(int argc, char **argv, struct list_args *a)
{
	static const struct cli_option opts[] = {
		{"class", 0, true, OPT_CLASS}, {"vendor", 0, true, OPT_VENDOR},
		{"device", 0, true, OPT_DEVICE}, {"driver", 0, true, OPT_DRIVER},
		{"group", 0, true, OPT_GROUP}, {"slot", 's', true, OPT_SLOT},
		{"tree", 't', false, OPT_TREE}, {"wide", 'w', false, OPT_WIDE}, {NULL, 0, false, 0}};
	struct cli_opts p;
	int id;
	memset(a, 0, sizeof(*a));
	dp_filter_init(&a->filter);
	cli_opts_init(&p, argc, argv, "list", opts);
	while ((id = cli_opts_next(&p)) > 0) {
		if (id == OPT_TREE)
			a->tree = true;
		else if (id == OPT_WIDE)
			a->wide = true;
		else if (filter_add(&a->filter, id, p.value) < 0)
			return cli_error(EXIT_USAGE, "%s: %s", p.name, dp_error_message());
	}
	if (id < 0)
		return p.exit;
	return cli_opts_count(&p, 0, 0, NULL);
}

/* `--driver nosuch` lists nothing; say why rather than leave an empty table */
static void drivers_note(const struct dp_pci_filter *f, const struct dp_pci_list *list)
{
	for (size_t i = 0; i < f->ndrivers; i++) {
		bool seen = strcmp(f->drivers[i], "none") == 0;
		for (size_t k = 0; k < list->n && !seen; k++)
			seen = dp_driver_name_equal(f->drivers[i], list->dev[k].driver);
		if (!seen)
			fprintf(stderr, "devpass: note: no function is bound to a driver named '%s'\n",
			        f->drivers[i]);
	}
}

/* The text DESCRIPTION: the names without the class name, which CLASS already shows,
 * so the model ("GA102 [GeForce RTX 3090]") fits. */
static const char *text_description(const struct dp_pci_device *d)
{
	size_t n = d->class_name ? strlen(d->class_name) : 0;
	if (n && strncmp(d->description, d->class_name, n) == 0 && strncmp(d->description + n, ": ", 2) == 0)
		return d->description + n + 2;
	return d->description;
}

static void text_row_add(struct dp_table *t, const struct dp_pci_device *d, const char *was)
{
	row_common_add(t, d, was);
	dp_table_set_str(t, "description", text_description(d));
}

static struct dp_table *rows_build(const struct dp_pci_list *list, const bool *keep, bool json,
                                   FILE *out)
{
	struct dp_table *t = json ? dp_table_new(list_columns, sizeof(list_columns) / sizeof(list_columns[0]))
	                          : dp_table_new(text_columns, sizeof(text_columns) / sizeof(text_columns[0]));
	if (json)
		dp_table_stream_json(t, out);
	_cleanup_free_ char (*was)[64] = calloc(list->n + 1, sizeof(*was));
	if (was)   /* without it the WAS column stays empty; the list itself is still right */
		dp_ledger_original_drivers(list, was);
	for (size_t i = 0; i < list->n; i++)
		if (keep[i])
			(json ? row_add : text_row_add)(t, &list->dev[i], was ? was[i] : NULL);
	return t;
}

int cmd_list(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct list_args a;
	int r = options_parse(argc, argv, &a);
	if (r)
		return r;
	struct dp_pci_list list = {0};
	if ((r = cli_inventory_load(&list, DP_SCAN_NAMES)))
		return r;
	_cleanup_free_ bool *keep = calloc(list.n + 1, sizeof(bool));
	if (!keep) {
		dp_pci_list_free(&list);
		return cli_error(EXIT_FAILED, "out of memory");
	}
	for (size_t i = 0; i < list.n; i++)
		keep[i] = dp_filter_match(&a.filter, &list.dev[i]);
	drivers_note(&a.filter, &list);
	struct dp_table *t;
	if (a.tree) {
		t = ctx->json ? dp_table_new(tree_columns, sizeof(tree_columns) / sizeof(tree_columns[0]))
		              : dp_table_new(tree_text_columns, sizeof(tree_text_columns) /
		                                                sizeof(tree_text_columns[0]));
		if (tree_build(&list, keep, t) < 0) {
			dp_table_free(t);
			dp_pci_list_free(&list);
			return cli_error(EXIT_FAILED, "out of memory");
		}
	} else {
		t = rows_build(&list, keep, ctx->json, stdout);
	}
	if (ctx->json)
		dp_table_print(t, stdout, true);
	else
		cli_table_print_fitted(t, stdout, a.wide);
	dp_table_free(t);
	dp_pci_list_free(&list);
	return EXIT_OK;
}
