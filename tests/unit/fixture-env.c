/* See fixture-env.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "alloc-util.h"
#include "fixture-env.h"

static void fk_fx_free(struct fk_fx *f)
{
	if (!f)
		return;
	dp_pci_list_free(&f->list);
	if (f->fk)
		fk_stop(f->root);
	free(f);
}

static void fk_fx_freep(struct fk_fx **f)
{
	fk_fx_free(*f);
}

static int scan(struct fk_fx *f)
{
	int r = dp_pci_scan_flags(&f->list, f->scan_flags);
	if (r == 0)
		dp_critical_mark(&f->list);
	return r;
}

int fk_fx_setup(void **state, const char *scenario, unsigned scan_flags)
{
	_cleanup_(fk_fx_freep) struct fk_fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->scan_flags = scan_flags;
	if (!(f->fk = fk_start(scenario, f->root, sizeof(f->root))) || scan(f) < 0)
		return -1;
	*state = TAKE_PTR(f);
	return 0;
}

int fk_fx_teardown(void **state)
{
	fk_fx_free(*state);
	*state = NULL;
	return 0;
}

void fk_fx_rescan(struct fk_fx *f)
{
	dp_pci_list_free(&f->list);
	assert_int_equal(scan(f), 0);
}

struct dp_claim_request fk_fx_request(const char *pool, const char *owner)
{
	return (struct dp_claim_request){.pool = pool, .owner = owner, .count = 1,
	                                 .numa = DP_NO_NUMA, .pid = 0, .timeout_ms = 5000};
}

static int empty_file(const char *root, const char *name)
{
	char path[512];
	if (snprintf(path, sizeof(path), "%s/%s", root, name) >= (int)sizeof(path))
		return -1;
	_cleanup_fclose_ FILE *k = fopen(path, "w");
	return k ? 0 : -1;
}

int fk_fx_vmhost_setup(void **state)
{
	if (fk_fx_setup(state, "vmhost", DP_SCAN_NAMES) < 0)
		return -1;
	struct fk_fx *f = *state;
	if (empty_file(f->root, "vmlinuz") < 0 ||
	    setenv("DEVPASS_QEMU", SOURCE_ROOT "/tests/fixtures/fake-qemu.py", 1) < 0 ||
	    setenv("FAKE_QEMU_MODE", "run", 1) < 0 ||
	    dp_pool_create("vfs", DP_POOL_SRIOV_VF, "", DP_RELEASE_RESTORE) < 0 ||
	    dp_pool_rule_add("vfs", "physfn=04:00.0", &f->list) != 4) {
		fk_fx_teardown(state);
		return -1;
	}
	return 0;
}
