/* devpass release — an owner's devices go back per their pool's policy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_release(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct cli_option opts[] = {
		{"for", 0, true, 'f'}, {"timeout", 0, true, 't'}, {NULL, 0, false, 0}};
	const char *owner = NULL;
	int timeout_ms = 10000, c;
	struct cli_opts p;
	cli_opts_init(&p, argc, argv, "release", opts);
	while ((c = cli_opts_next(&p)) > 0) {
		if (c == 'f')
			owner = p.value;
		else if (cli_timeout_parse(p.value, &timeout_ms))
			return EXIT_USAGE;
	}
	if (c < 0)
		return p.exit;
	if (!owner)
		return cli_error(EXIT_USAGE, "usage: devpass release --for OWNER [ADDRESS...]");
	struct dp_pci_list list = {0};
	struct dp_claim_list released;
	int r = cli_inventory_load(&list, 0);
	if (r)
		return r;
	r = dp_pool_release(&list, owner, p.args, p.nargs, timeout_ms, &released);
	/* a VM's stop hook releases on every shutdown, also when nothing was claimed: that is
	 * no failure (naming an address that is not claimed still is) */
	bool nothing_held = r == -ENOENT && p.nargs == 0 && released.n == 0;
	if (nothing_held)
		fprintf(stderr, "devpass: note: %s; nothing to release\n", dp_error_message());
	r = cli_claims_report(&released, ctx, true, nothing_held ? 0 : r);
	dp_claim_list_free(&released);
	dp_pci_list_free(&list);
	return r;
}
