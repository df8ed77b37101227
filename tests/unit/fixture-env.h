/* The set-up the fake-kernel tests share: a fixture tree generated for one scenario with
 * the fake kernel installed over it, and the PCI list scanned from it (host-critical devices
 * marked). fk_fx_setup and fk_fx_teardown are cmocka fixture bodies: *state is the fk_fx. */
#ifndef FIXTURE_ENV_H
#define FIXTURE_ENV_H

#include "devpass.h"
#include "fakekernel.h"

struct fk_fx {
	char root[256];
	struct fk_state *fk;
	struct dp_pci_list list;
	unsigned scan_flags;   /* what dp_pci_scan_flags is given, at set-up and every rescan */
};

/* Starts `scenario` and scans it; -1 (and nothing left behind) on any failure. */
int fk_fx_setup(void **state, const char *scenario, unsigned scan_flags);
int fk_fx_teardown(void **state);
/* Scans the tree again into f->list (asserts that the scan worked). */
void fk_fx_rescan(struct fk_fx *f);
/* A claim of one device of `pool` for `owner`: any NUMA node, no pid, 5 s of waiting. */
struct dp_claim_request fk_fx_request(const char *pool, const char *owner);
/* The `vmhost` tree (names scanned) as test-vm.c and test-vm-export.c use it: an empty
 * /vmlinuz, QEMU played by tests/fixtures/fake-qemu.py in "run" mode, and pool vfs of the
 * four VFs of PF 04:00.0. */
int fk_fx_vmhost_setup(void **state);

#endif
