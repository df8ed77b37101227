/* devpass claim — free devices of a pool for an owner, bound to vfio-pci. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int number_parse(const char *text, const char *option, long min, long max, long *out)
{
	char *end;
	long n = strtol(text, &end, 10);
	if (*end || end == text || n < min || n > max)
		return cli_error(EXIT_USAGE, "%s takes a number from %ld to %ld, not '%s'", option, min,
		                 max, text);
	*out = n;
	return 0;
}

/* --mac M / --vlan ID: the VF settings of an sriov-vf claim, parsed as devpass sriov set does */
static int vf_option(const char *name, const char *value, struct dp_vf_settings *vf,
                     struct dp_claim_request *req)
{
	if (dp_vf_setting_parse(name, value, vf) < 0)
		return cli_lib_error(EXIT_USAGE);
	req->vf = vf;
	return 0;
}

static int claim_args_parse(int argc, char **argv, struct dp_claim_request *req, bool *list_only,
                            struct dp_vf_settings *vf)
{
	static const struct cli_option opts[] = {
		{"for", 0, true, 'f'}, {"count", 0, true, 'c'}, {"numa", 0, true, 'n'},
		{"address", 0, true, 'a'}, {"pid", 0, true, 'p'}, {"timeout", 0, true, 't'},
		{"list", 0, false, 'l'}, {"mac", 0, true, 'M'}, {"vlan", 0, true, 'V'},
		{NULL, 0, false, 0}};
	struct cli_opts o;
	long v = 0;
	int c, r = 0;
	cli_opts_init(&o, argc, argv, "claim", opts);
	/* without --pid a claim lasts until released: the process that ran devpass is often
	 * sudo, a hook or a script, gone a moment later, which would make the claim stale at
	 * once and hand a running VM's device to the next claimer */
	*req = (struct dp_claim_request){.count = 1, .numa = DP_NO_NUMA, .pid = 0,
	                                 .timeout_ms = 10000};
	while (r == 0 && (c = cli_opts_next(&o)) > 0) {
		switch (c) {
		case 'f': req->owner = o.value; break;
		case 'c': r = number_parse(o.value, "--count", 1, 4096, &v), req->count = (unsigned)v; break;
		case 'n': r = number_parse(o.value, "--numa", 0, 4095, &v), req->numa = (int)v; break;
		case 'a': req->address = o.value; break;
		case 'p': r = number_parse(o.value, "--pid", 0, 0x7fffffff, &v), req->pid = (pid_t)v; break;
		case 't': r = cli_timeout_parse(o.value, &req->timeout_ms); break;
		case 'l': *list_only = true; break;
		case 'M': r = vf_option("mac", o.value, vf, req); break;
		case 'V': r = vf_option("vlan", o.value, vf, req); break;
		}
	}
	if (r)
		return r;
	if (c < 0)
		return o.exit;
	if (*list_only) {
		if (o.nargs)
			return cli_error(EXIT_USAGE, "usage: devpass claim --list [--for OWNER]");
		return 0;
	}
	if (o.nargs != 1 || !req->owner)
		return cli_error(EXIT_USAGE, "usage: devpass claim POOL --for OWNER [--count N] [--numa N] "
		                 "[--address ADDRESS] [--pid PID] [--mac MAC] [--vlan ID]");
	/* the library refuses it too, in its terms; here the options are named */
	if (req->address && req->count != 1)
		return cli_error(EXIT_USAGE, "--address claims one device: leave --count out");
	req->pool = o.args[0];
	return 0;
}

int cmd_claim(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct dp_claim_request req;
	struct dp_vf_settings vf = {0};
	struct dp_pci_list list = {0};
	struct dp_claim_list claims;
	bool list_only = false;
	int r = claim_args_parse(argc, argv, &req, &list_only, &vf);
	if (r || (r = cli_inventory_load(&list, list_only ? 0 : DP_SCAN_NAMES)))
		return r;
	r = list_only ? dp_claims_read(&list, req.owner, &claims) : dp_pool_claim(&list, &req, &claims);
	r = cli_claims_report(&claims, ctx, false, r);
	if (list_only && r == EXIT_OK && claims.n == 0 && !ctx->json)
		printf("No claims%s%s.\n", req.owner ? " of " : "", req.owner ? req.owner : "");
	dp_claim_list_free(&claims);
	dp_pci_list_free(&list);
	return r;
}
