/* Leaks one block on purpose, after the same libpci name lookups devpass makes, so that
 * tests/fixture/test_pools_review.py can show its valgrind check still fails on a leak of
 * devpass's own with tests/valgrind.supp in force (the suppressions cover libpci/libudev
 * only). Not a test by itself: `leak-probe ROOT` scans ROOT's PCI functions with names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devpass.h"

static void *volatile kept;

/* The block's only pointer is overwritten: "definitely lost", allocated here. */
static void __attribute__((noinline)) leak_probe_deliberate_leak(void)
{
	kept = malloc(48);
	if (kept)
		memset(kept, 0x5a, 48);
	kept = NULL;
}

int main(int argc, char **argv)
{
	struct dp_pci_list list = {0};
	if (argc != 2 || dp_root_set(argv[1]) < 0 || dp_pci_scan(&list) < 0) {
		fprintf(stderr, "usage: leak-probe ROOT (%s)\n", dp_error_message());
		return 2;
	}
	printf("%zu functions\n", list.n);
	dp_pci_list_free(&list);
	leak_probe_deliberate_leak();
	dp_names_release();
	return 0;
}
