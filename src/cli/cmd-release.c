/* devpass release — an owner's devices go back per their pool's policy. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_release(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct option opts[] = {
		{"for", required_argument, NULL, 'f'}, {"timeout", required_argument, NULL, 't'}, {0}};
	const char *owner = NULL;
	int timeout_ms = 10000, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == 'f') {
			owner = optarg;
		} else if (c == 't') {
			if (cli_timeout_parse(optarg, &timeout_ms))
				return EXIT_USAGE;
		} else if (c == ':') {
			return cli_error(EXIT_USAGE, "option '%s' needs a value", argv[optind - 1]);
		} else {
			return cli_error(EXIT_USAGE, "unknown option '%s' (see 'devpass release --help')",
			                 argv[optind - 1]);
		}
	}
	if (!owner)
		return cli_error(EXIT_USAGE, "usage: devpass release --for OWNER [ADDRESS...]");
	struct dp_pci_list list = {0};
	struct dp_claim_list released;
	int r = cli_inventory_load(&list, 0);
	if (r)
		return r;
	r = dp_pool_release(&list, owner, argv + optind, (size_t)(argc - optind), timeout_ms, &released);
	r = cli_claims_report(&released, ctx, true, r);
	dp_claim_list_free(&released);
	dp_pci_list_free(&list);
	return r;
}
