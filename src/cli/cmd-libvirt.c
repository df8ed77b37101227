/* devpass libvirt — pool devices for libvirt domains (attach, detach) and the qemu hook
 * that guards their start and gives their devices back when they stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define LIBVIRT_HOOK_STDIN_MAX (16 * 1024 * 1024)

static const struct dp_column element_columns[] = {
	{"device", "DEVICE", DP_COL_TEXT, 0},
	{"kind", "KIND", DP_COL_TEXT, 0},
	{"alias", "ALIAS", DP_COL_TEXT, 0},
	{"guest", "GUEST ADDRESS", DP_COL_TEXT, 0},
	{"pool", "POOL", DP_COL_TEXT, 0},
};

static const char *kind_name(enum dp_hostdev_kind k)
{
	return k == DP_HOSTDEV_USB ? "usb" : k == DP_HOSTDEV_MDEV ? "mdev" :
	       k == DP_HOSTDEV_NET ? "net" : "pci";
}

static void element_row(struct dp_table *t, const struct dp_hostdev *h)
{
	dp_table_add_row(t);
	if (h->kind == DP_HOSTDEV_USB)
		dp_table_set_strf(t, "device", "%04x:%04x", h->usb_vendor, h->usb_product);
	else
		dp_table_set_str(t, "device", h->kind == DP_HOSTDEV_MDEV ? h->uuid : h->address);
	dp_table_set_str(t, "kind", kind_name(h->kind));
	dp_table_set_str(t, "alias", h->alias);
	if (h->guest.set)
		dp_table_set_strf(t, "guest", "0000:%02x:%02x.%x", h->guest.bus, h->guest.slot,
		                  h->guest.function);
	else
		dp_table_set_str(t, "guest", NULL);
	dp_table_set_str(t, "pool", h->pool[0] ? h->pool : NULL);
}

static int elements_report(const struct dp_libvirt_result *res, const struct cli_ctx *ctx,
                           const char *domain, bool attach)
{
	struct dp_table *t = dp_table_new(element_columns, sizeof(element_columns) / sizeof(element_columns[0]));
	if (!t)
		return cli_error(EXIT_FAILED, "out of memory");
	for (size_t i = 0; i < res->set.n; i++)
		element_row(t, &res->set.h[i]);
	int r = dp_table_print(t, stdout, ctx->json);
	dp_table_free(t);
	for (size_t i = 0; i < res->claims.warnings.n; i++)
		fprintf(stderr, "devpass: %s\n", res->claims.warnings.v[i]);
	if (!ctx->json)
		printf("domain %s: %zu element(s) %s its definition%s\n", domain, res->set.n,
		       attach ? "added to" : "taken out of", res->live ? " and the running guest" : "");
	if (!attach && !ctx->json)
		for (size_t i = 0; i < res->claims.n; i++)
			printf("released %s (pool %s): %s\n", res->claims.c[i].address, res->claims.c[i].pool,
			       res->claims.c[i].action[0] ? res->claims.c[i].action : "given back");
	return r < 0 ? EXIT_FAILED : EXIT_OK;
}

/* POOL or POOL:N */
static int pool_arg(const char *text, char *pool, size_t size, unsigned *count)
{
	const char *colon = strrchr(text, ':');
	*count = 1;
	if (colon) {
		char *end;
		unsigned long n = strtoul(colon + 1, &end, 10);
		if (!colon[1] || *end || n < 1 || n > 4096)
			return cli_error(EXIT_USAGE, "--pool %s: the count after ':' must be a number from 1 "
			                 "to 4096", text);
		*count = (unsigned)n;
	}
	size_t len = colon ? (size_t)(colon - text) : strlen(text);
	if (len == 0 || len >= size)
		return cli_error(EXIT_USAGE, "--pool %s: no pool name", text);
	snprintf(pool, size, "%.*s", (int)len, text);
	return 0;
}

struct lv_args {
	struct dp_libvirt_request req;
	char pool[DP_POOL_NAME_MAX + 1];
	struct cli_opts p;
};

static int lv_args_parse(int argc, char **argv, const char *verb, bool attach, struct lv_args *a)
{
	static const struct cli_option attach_opts[] = {
		{"pool", 0, true, 'p'}, {"connect", 'c', true, 'c'}, {"numa", 0, true, 'n'},
		{"timeout", 0, true, 't'}, {NULL, 0, false, 0}};
	static const struct cli_option detach_opts[] = {
		{"connect", 'c', true, 'c'}, {"timeout", 0, true, 't'}, {NULL, 0, false, 0}};
	char name[32], *end;
	int c;
	snprintf(name, sizeof(name), "libvirt %s", verb);
	a->req = (struct dp_libvirt_request){.numa = DP_NO_NUMA, .timeout_ms = 10000};
	cli_opts_init(&a->p, argc, argv, name, attach ? attach_opts : detach_opts);
	while ((c = cli_opts_next(&a->p)) > 0) {
		if (c == 'p' && pool_arg(a->p.value, a->pool, sizeof(a->pool), &a->req.count))
			return EXIT_USAGE;
		if (c == 'p')
			a->req.pool = a->pool;
		else if (c == 'c')
			a->req.uri = a->p.value;
		else if (c == 'n' && ((a->req.numa = (int)strtol(a->p.value, &end, 10)) < 0 || *end ||
		                      !a->p.value[0]))
			return cli_error(EXIT_USAGE, "--numa %s: a NUMA node number", a->p.value);
		else if (c == 't' && cli_timeout_parse(a->p.value, &a->req.timeout_ms))
			return EXIT_USAGE;
	}
	if (c < 0)
		return a->p.exit;
	if (a->p.nargs < 1)
		return cli_error(EXIT_USAGE, "usage: devpass libvirt %s DOMAIN ... (devpass libvirt --help)", verb);
	a->req.domain = a->p.args[0];
	a->req.devices = a->p.args + 1;
	a->req.ndevices = a->p.nargs - 1;
	if (attach && !a->req.pool == !a->req.ndevices)
		return cli_error(EXIT_USAGE, "devpass libvirt attach takes --pool POOL[:N] or the pool "
		                 "members' addresses, one of the two");
	return 0;
}

static int lv_run(int argc, char **argv, const struct cli_ctx *ctx, bool attach)
{
	struct lv_args a;
	struct dp_pci_list list = {0};
	struct dp_libvirt_result res;
	int r = lv_args_parse(argc, argv, attach ? "attach" : "detach", attach, &a);
	if (r || (r = cli_inventory_load(&list, 0)))   /* no names: the output has none */
		return r;
	int err = attach ? dp_libvirt_attach(&list, &a.req, &res) : dp_libvirt_detach(&list, &a.req, &res);
	r = err < 0 ? cli_lib_error(cli_exit_for(err)) : elements_report(&res, ctx, a.req.domain, attach);
	if (err == 0)
		dp_libvirt_result_free(&res);
	dp_pci_list_free(&list);
	return r;
}

static int lv_attach(int argc, char **argv, const struct cli_ctx *ctx)
{
	return lv_run(argc, argv, ctx, true);
}

static int lv_detach(int argc, char **argv, const struct cli_ctx *ctx)
{
	return lv_run(argc, argv, ctx, false);
}

static int lv_install_hook(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct cli_option opts[] = {{"uninstall", 0, false, 'u'}, {NULL, 0, false, 0}};
	struct cli_opts p;
	bool uninstall = false;
	int c;
	char path[256];
	(void)ctx;
	cli_opts_init(&p, argc, argv, "libvirt install-hook", opts);
	while ((c = cli_opts_next(&p)) > 0)
		uninstall = true;
	if (c < 0)
		return p.exit;
	if (p.nargs)
		return cli_error(EXIT_USAGE, "usage: devpass libvirt install-hook [--uninstall]");
	if (dp_libvirt_hook_install(uninstall, path, sizeof(path)) < 0)
		return cli_lib_error(EXIT_FAILED);
	printf("%s %s%s\n", uninstall ? "removed" : "wrote", path,
	       uninstall ? "" : " (0755): libvirtd runs it from its next (re)start on "
	                        "(systemctl restart libvirtd)");
	return EXIT_OK;
}

/* libvirt hands the domain XML on stdin to every hook script. */
static int stdin_read(char **text)
{
	size_t len = 0, cap = 65536;
	*text = malloc(cap);
	while (*text) {
		size_t got = fread(*text + len, 1, cap - len - 1, stdin);
		len += got;
		if (got == 0 || len > LIBVIRT_HOOK_STDIN_MAX)
			break;
		char *grown = len + 1 >= cap ? realloc(*text, cap *= 2) : *text;
		if (!grown)
			free(*text);
		*text = grown;
	}
	if (!*text)
		return cli_error(EXIT_FAILED, "out of memory reading the domain XML");
	(*text)[len] = '\0';
	return len > LIBVIRT_HOOK_STDIN_MAX ? cli_error(EXIT_FAILED, "the domain XML on standard "
	                                                "input is larger than 16 MiB") : 0;
}

static int lv_hook(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	struct dp_pci_list list = {0};
	struct dp_strv problems = {0}, notes = {0};
	char *xml = NULL;
	(void)ctx;
	int r = cli_opts_none(argc, argv, "libvirt hook", 3, 4, &p);
	if (r || (r = stdin_read(&xml)) || (r = cli_inventory_load(&list, 0))) {
		free(xml);
		return r;
	}
	int err = dp_libvirt_hook(&list, p.args[0], p.args[1], p.args[2], xml, 10000, &problems, &notes);
	for (size_t i = 0; i < notes.n; i++)
		fprintf(stderr, "devpass: %s\n", notes.v[i]);
	for (size_t i = 0; i < problems.n; i++)
		fprintf(stderr, "devpass: refused: %s\n", problems.v[i]);
	r = err == 0 ? EXIT_OK : problems.n ? EXIT_FAILED : cli_lib_error(EXIT_FAILED);
	dp_strv_free(&problems);
	dp_strv_free(&notes);
	dp_pci_list_free(&list);
	free(xml);
	return r;
}

static const struct cli_verb libvirt_verbs[] = {
	{"attach", lv_attach, NULL, NULL},
	{"detach", lv_detach, NULL, NULL},
	{"install-hook", lv_install_hook, NULL, NULL},
	{"hook", lv_hook, NULL, NULL},
};

int cmd_libvirt(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const char names[] = "attach, detach, install-hook or hook";
	size_t n = sizeof(libvirt_verbs) / sizeof(libvirt_verbs[0]);
	if (argc >= 2 && argv[1][0] == '-') {   /* libvirt --help */
		struct cli_opts p;
		int r = cli_opts_none(2, argv, "libvirt", 0, 0, &p);
		if (r)
			return r;
	}
	if (argc < 2 || argv[1][0] == '-')
		return cli_error(EXIT_USAGE, "devpass libvirt needs a sub-command first: %s "
		                 "(devpass libvirt --help)", names);
	for (size_t i = 0; i < n; i++)
		if (strcmp(libvirt_verbs[i].name, argv[1]) == 0)
			return libvirt_verbs[i].run(argc - 1, argv + 1, ctx);
	return cli_error(EXIT_USAGE, "unknown libvirt sub-command '%.100s': %s (devpass libvirt "
	                 "--help)", argv[1], names);
}
