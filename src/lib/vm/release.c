/* Stopping a VM and giving its devices back. One release path serves `stop`, the
 * supervisor (QEMU died by itself), a failed start and the next start after a crash: it
 * runs under the VM's lock and does nothing when nothing is taken, so whichever comes
 * second finds the work done. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "binding/binding.h"
#include "fs/sysroot.h"
#include "util/error.h"
#include "vm/vm.h"

/* What the guest left in a device (keys, queues, a half-done DMA setup) is not the next
 * user's: each named device is reset while still on vfio-pci, as pool members are. A
 * device the kernel cannot reset, or one something opened again since, is left as it is
 * and the stop says so. */
static void reset_named(const struct dp_vm_status *st, const struct dp_pci_list *list,
                        int timeout_ms, bool *done, struct dp_claim_list *out)
{
	for (size_t i = 0; i < st->ntaken; i++) {
		const struct dp_pci_device *d = dp_pci_list_find(list, st->taken[i].address);
		char methods[128];
		done[i] = false;
		if (st->taken[i].pool[0] || !d || dp_reset_methods(d, methods, sizeof(methods)) < 0)
			continue;
		struct dp_pci_device now = *d;
		dp_device_driver(d->address, now.driver, sizeof(now.driver));
		_cleanup_(dp_strv_freep) struct dp_strv unused = {0};   /* not forced: no warnings */
		if (!dp_driver_name_equal(now.driver, "vfio-pci") || dp_reset_check(&now, false, false, &unused) < 0)
			continue;
		if (dp_reset_apply(&now, timeout_ms) == 0)
			done[i] = true;
		else if (out)
			dp_strv_addf(&out->warnings, "%s could not be reset: %s", d->address, dp_error_message());
	}
}

/* Named devices go back to the driver they had before the VM; one that was on vfio-pci
 * already (bound by the user) stays there. */
static int restore_named(const struct dp_vm_status *st, const struct dp_pci_list *list, int timeout_ms)
{
	_cleanup_(dp_strv_freep) struct dp_strv addrs = {0};
	for (size_t i = 0; i < st->ntaken; i++) {
		const struct dp_vm_taken *t = &st->taken[i];
		if (t->pool[0] || dp_driver_name_equal(t->driver_before, "vfio-pci") ||
		    !dp_pci_list_find(list, t->address))
			continue;
		if (dp_strv_add(&addrs, t->address) < 0)
			return dp_oom();
	}
	if (!addrs.n)
		return 0;
	struct dp_bind_options bo = { .timeout_ms = timeout_ms };
	struct dp_bind_plan bp = {0};
	int r = dp_bind_plan_make(DP_RESTORE, list, addrs.v, addrs.n, false, &bo, &bp);
	if (r == 0)
		r = dp_bind_plan_apply(&bp, list, &bo);
	dp_bind_plan_free(&bp);
	return r;
}

/* What the stop did to each named device, beside what the pools say of theirs. */
static int named_report(const char *name, const struct dp_vm_status *st, const bool *reset,
                        struct dp_claim_list *out)
{
	for (size_t i = 0; out && i < st->ntaken; i++) {
		const struct dp_vm_taken *t = &st->taken[i];
		if (t->pool[0])
			continue;
		if (dp_array_grow(&out->c, out->n, 1, sizeof(*out->c)) < 0)
			return dp_oom();
		struct dp_claim *c = &out->c[out->n++];
		memset(c, 0, sizeof(*c));
		c->group = DP_NO_GROUP;
		c->numa = DP_NO_NUMA;
		snprintf(c->address, sizeof(c->address), "%s", t->address);
		dp_vm_owner(name, c->owner, sizeof(c->owner));
		bool kept = dp_driver_name_equal(t->driver_before, "vfio-pci");
		snprintf(c->action, sizeof(c->action), "%s%s", kept ? "kept on vfio-pci" :
		         t->driver_before[0] ? "restored to " : "restored (no driver)", kept ? "" : t->driver_before);
		c->reset = reset[i];
		if (dp_strv_add(&c->functions, t->address) < 0)
			return dp_oom();
	}
	return 0;
}

static int release_pools(const char *name, const struct dp_vm_status *st,
                         const struct dp_pci_list *list, int timeout_ms,
                         struct dp_claim_list *released)
{
	/* not only the recorded pool functions: the owner's unit claims (USB devices, mediated
	 * devices, which this removes) are recorded by the pools alone */
	(void)st;
	char owner[128];
	dp_vm_owner(name, owner, sizeof(owner));
	struct dp_claim_list local = {0};
	int r = dp_pool_release(list, owner, NULL, 0, timeout_ms, released ? released : &local);
	dp_claim_list_free(&local);
	return r == -ENOENT ? 0 : r;   /* released already (pool gc came first) */
}

static int forget_taken(struct vm_db *db, const char *name, const struct dp_vm_status *st,
                        const char *how)
{
	int r = dp_vm_db_begin(db);
	for (size_t i = 0; r == 0 && i < st->ntaken; i++)
		r = dp_vm_db_give_back(db, st->taken[i].address);
	if (r == 0 && how)
		r = dp_vm_db_run_end(db, name, how);
	if (r < 0) {
		dp_vm_db_rollback(db);
		return r;
	}
	return dp_vm_db_commit(db);
}

int dp_vm_release(const char *name, const char *how, int timeout_ms, struct dp_claim_list *released)
{
	_cleanup_(dp_vm_db_closep) struct vm_db *db = NULL;
	_cleanup_(dp_vm_status_freep) struct dp_vm_status st = {0};
	int r = dp_vm_db_open(&db, true) ?: dp_vm_db_status(db, name, &st);
	if (r < 0)
		return r;
	if (!st.ntaken && st.state == DP_VM_STOPPED)
		return 0;
	_cleanup_(dp_pci_list_freep) struct dp_pci_list list = {0};
	_cleanup_free_ bool *reset = calloc(st.ntaken + 1, sizeof(*reset));
	if (!reset)
		return dp_oom();
	if (st.ntaken && (r = dp_pci_scan_flags(&list, 0)) < 0)
		return r;
	reset_named(&st, &list, timeout_ms, reset, released);
	if ((r = restore_named(&st, &list, timeout_ms)) < 0 ||
	    (r = release_pools(name, &st, &list, timeout_ms, released)) < 0)
		return r;   /* kept as taken: the next stop or start tries again */
	dp_vm_run_files_remove(name);
	return named_report(name, &st, reset, released) ?: forget_taken(db, name, &st, how);
}

/* ---- stop ----------------------------------------------------------------------------- */
static int stop_locked(const char *name, const struct dp_vm_options *o, struct dp_claim_list *released)
{
	_cleanup_(dp_vm_status_freep) struct dp_vm_status st = {0};
	char pidfile[512], qmp[512];
	int r = dp_vm_get(name, NULL, &st) ?:
	        dp_vm_path(name, DP_VM_RUN_DIR, "qemu.pid", pidfile, sizeof(pidfile)) ?:
	        dp_vm_path(name, DP_VM_RUN_DIR, "qmp.sock", qmp, sizeof(qmp));
	if (r < 0)
		return r;
	pid_t pid = 0;
	bool alive = dp_vm_pidfile_locked(pidfile, &pid);
	if (!alive && !st.ntaken && st.qemu_pid == 0)
		return dp_error_set(-EALREADY, "VM '%s' is not running", name);
	if (o->dry_run)
		return 0;
	enum dp_vm_stop_step by = DP_VM_GONE_ALREADY;
	int wait_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
	if (alive && (r = dp_vm_qemu_stop(qmp, pid, wait_ms, &by)) < 0)
		return r;
	char how[128];
	snprintf(how, sizeof(how), alive ? "stopped (%s)" : "QEMU had exited; its devices were given "
	         "back by a stop", dp_vm_stop_step_name(by));
	return dp_vm_release(name, how, 0, released);
}

int dp_vm_stop(const char *name, const struct dp_pci_list *list, const struct dp_vm_options *o,
               struct dp_claim_list *released)
{
	(void)list;   /* the release scans again: the VM's end changed what it would say */
	struct dp_vm_options none = {0};
	int lock = dp_vm_lock(name);
	if (lock < 0)
		return lock;
	int r = stop_locked(name, o ? o : &none, released);
	dp_fs_unlock(lock);
	return r;
}
