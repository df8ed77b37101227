/* devpass claim — free devices of a pool for an owner, bound to vfio-pci. */
#include <getopt.h>
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

static int claim_args_parse(int argc, char **argv, struct dp_claim_request *req, bool *list_only)
{
	static const struct option opts[] = {
		{"for", required_argument, NULL, 'f'}, {"count", required_argument, NULL, 'c'},
		{"numa", required_argument, NULL, 'n'}, {"address", required_argument, NULL, 'a'},
		{"pid", required_argument, NULL, 'p'}, {"timeout", required_argument, NULL, 't'},
		{"list", no_argument, NULL, 'l'}, {0}};
	long v = 0;
	int c, r = 0;
	optind = 1;
	opterr = 0;
	/* without --pid a claim lasts until released: the process that ran devpass is often
	 * sudo, a hook or a script, gone a moment later, which would make the claim stale at
	 * once and hand a running VM's device to the next claimer */
	*req = (struct dp_claim_request){.count = 1, .numa = DP_NO_NUMA, .pid = 0,
	                                 .timeout_ms = 10000};
	while (r == 0 && (c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'f': req->owner = optarg; break;
		case 'c': r = number_parse(optarg, "--count", 1, 4096, &v), req->count = (unsigned)v; break;
		case 'n': r = number_parse(optarg, "--numa", 0, 4095, &v), req->numa = (int)v; break;
		case 'a': req->address = optarg; break;
		case 'p': r = number_parse(optarg, "--pid", 0, 0x7fffffff, &v), req->pid = (pid_t)v; break;
		case 't': r = cli_timeout_parse(optarg, &req->timeout_ms); break;
		case 'l': *list_only = true; break;
		case ':': return cli_error(EXIT_USAGE, "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_error(EXIT_USAGE, "unknown option '%s' (see 'devpass claim --help')",
			                 argv[optind - 1]);
		}
	}
	if (r)
		return r;
	if (*list_only) {
		if (argc != optind)
			return cli_error(EXIT_USAGE, "usage: devpass claim --list [--for OWNER]");
		return 0;
	}
	if (argc - optind != 1 || !req->owner)
		return cli_error(EXIT_USAGE, "usage: devpass claim POOL --for OWNER [--count N] [--numa N] "
		                 "[--address ADDRESS] [--pid PID]");
	req->pool = argv[optind];
	return 0;
}

int cmd_claim(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct dp_claim_request req;
	struct dp_pci_list list = {0};
	struct dp_claim_list claims;
	bool list_only = false;
	int r = claim_args_parse(argc, argv, &req, &list_only);
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
