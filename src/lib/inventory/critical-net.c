/* Network devices the host needs: those carrying a default route, and those the route to
 * a network filesystem's or network disk's server leaves by. Routes are looked up as the
 * kernel's main table does (longest prefix, then lowest metric); a bond, VLAN or bridge
 * hands the reason on to the PCI functions below it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/sysroot.h"
#include "inventory/critical.h"
#include "alloc-util.h"

/* bonds, VLANs and macvlans name their lower devices lower_*, bridges list brif/ */
static void netdev_lowers_mark(struct dp_pci_list *list, const char *dir, const char *prefix,
                               const char *reason, int depth)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	struct dirent *de;
	size_t plen = strlen(prefix);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && strncmp(de->d_name, prefix, plen) == 0)
			crit_netdev_mark(list, de->d_name + plen, reason, depth + 1);
}

void crit_netdev_mark(struct dp_pci_list *list, const char *ifname, const char *reason, int depth)
{
	char path[PATH_MAX], resolved[PATH_MAX], addr[DP_ADDR_LEN];
	if (depth > CRIT_MAX_DEPTH || !*ifname || strchr(ifname, '/') || !dp_fs_path_is_safe(ifname))
		return;
	snprintf(path, sizeof(path), "sys/class/net/%s", ifname);
	if (dp_fs_resolve(path, resolved, sizeof(resolved)) < 0)
		return;
	if (crit_pci_in_path(resolved, addr)) {
		crit_mark(list, addr, reason);
		return;
	}
	netdev_lowers_mark(list, path, "lower_", reason, depth);
	snprintf(path, sizeof(path), "sys/class/net/%s/brif", ifname);
	netdev_lowers_mark(list, path, "", reason, depth);
}

static void routes_parse(struct crit_ctx *ctx, const char *file, bool v6)
{
	_cleanup_free_ char *text = NULL;
	if (dp_fs_read_all(file, &text, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct crit_route r;
		bool ok = v6 ? crit_route6_parse(line, &r) : crit_route4_parse(line, &r);
		if (!ok || crit_checked(dp_array_grow(&ctx->routes, ctx->nroutes, 1, sizeof(r))) < 0)
			continue;
		ctx->routes[ctx->nroutes++] = r;
	}
}

static void routes_read(struct crit_ctx *ctx)
{
	if (ctx->routes_read)
		return;
	ctx->routes_read = true;
	routes_parse(ctx, "proc/net/route", false);
	routes_parse(ctx, "proc/net/ipv6_route", true);
}

void crit_default_routes_mark(struct crit_ctx *ctx)
{
	routes_read(ctx);
	for (size_t i = 0; i < ctx->nroutes; i++) {
		const struct crit_route *r = &ctx->routes[i];
		if (r->plen != 0 || strcmp(r->ifname, "lo") == 0)
			continue;
		char reason[128];
		snprintf(reason, sizeof(reason), "carries the default route (%s)", r->ifname);
		crit_netdev_mark(ctx->list, r->ifname, reason, 0);
	}
}

bool crit_server_mark(struct crit_ctx *ctx, const char *server, const char *what)
{
	routes_read(ctx);
	const struct crit_route *r = crit_route_lookup(ctx->routes, ctx->nroutes, server);
	if (!r || strcmp(r->ifname, "lo") == 0)
		return false;
	_cleanup_free_ char *reason = NULL;
	if (asprintf(&reason, "carries %s from %s, which routes via %s", what, server, r->ifname) < 0) {
		crit_out_of_memory();
		return false;
	}
	crit_netdev_mark(ctx->list, r->ifname, reason, 0);
	return true;
}
