/* The binding engine. A plan lists one step per function; applying it moves each
 * function with driver_override → unbind → drivers_probe → verify (never new_id), under
 * the locks of every group involved, after recording the function's original state in
 * the ledger. A failed step puts every function already moved back where it was. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "binding/binding.h"
#include "fs/sysroot.h"
#include "util/error.h"

#define NO_DRIVER "none"   /* an override no driver matches: keeps a function unbound */

const char *dp_step_action_name(enum dp_step_action a)
{
	static const char *const names[] = {"bind", "unbind", "restore", "skip", "reset"};
	return names[a];
}

const char *dp_step_result_name(enum dp_step_result r)
{
	static const char *const names[] = {"planned", "done", "skipped", "rolled-back", "failed",
	                                    "refused", "not-run"};
	return names[r];
}

/* ---- fresh device state ------------------------------------------------------------ */

int dp_device_driver(const char *address, char *driver, size_t size)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/driver", address);
	int r = dp_fs_readlink_name(path, driver, size);
	if (r == -ENOENT) {
		driver[0] = '\0';
		return 0;
	}
	return r;
}

/* Reading driver_override waits for the device lock, which a hung unbind holds: read
 * under the timeout like the writes. */
int dp_device_override(const char *address, char *override, size_t size, int timeout_ms)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/driver_override", address);
	int r = dp_fs_read_line_timeout(path, override, size, timeout_ms);
	if (r == -ETIMEDOUT) {
		override[0] = '\0';
		return dp_error_set(r, "%s: reading driver_override did not finish in %d s: the device "
		                    "is locked (an unbind of it may be hanging)", address, timeout_ms / 1000);
	}
	if (r == -ENOENT) {   /* kernels without driver_override: nothing to record */
		override[0] = '\0';
		return 0;
	}
	if (r < 0) {
		override[0] = '\0';
		return dp_error_set(r, "%s: cannot read driver_override: %s", address, strerror(-r));
	}
	if (r < 0 || strcmp(override, "(null)") == 0)
		override[0] = '\0';
	return r < 0 ? r : 0;
}

/* ---- planning ------------------------------------------------------------------------ */

/* A step for dev, unless it has one: -ENOMEM. */
static int step_add(struct dp_bind_plan *p, const struct dp_pci_device *dev, bool requested)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->steps[i].address, dev->address) == 0) {
			p->steps[i].requested |= requested;
			return 0;
		}
	if (dp_array_grow(&p->steps, p->n, 1, sizeof(*p->steps)) < 0)
		return dp_oom();
	struct dp_bind_step *s = &p->steps[p->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->address, sizeof(s->address), "%s", dev->address);
	s->group = dev->iommu_group;
	snprintf(s->from, sizeof(s->from), "%s", dev->driver);
	if (dp_device_override(dev->address, s->from_override, sizeof(s->from_override),
	                       p->timeout_ms) < 0)
		p->locked_error = true;
	s->requested = requested;
	return 0;
}

static void step_target(struct dp_bind_step *s, enum dp_bind_kind kind, const char *driver)
{
	s->action = kind == DP_BIND ? DP_STEP_BIND : kind == DP_UNBIND ? DP_STEP_UNBIND : DP_STEP_RESTORE;
	if (kind == DP_BIND) {
		snprintf(s->to, sizeof(s->to), "%s", driver);
		snprintf(s->to_override, sizeof(s->to_override), "%s", driver);
	} else if (kind == DP_UNBIND) {
		s->to[0] = '\0';
		snprintf(s->to_override, sizeof(s->to_override), NO_DRIVER);
	}
	if (strcmp(s->from, s->to) == 0 && strcmp(s->from_override, s->to_override) == 0)
		s->action = DP_STEP_SKIP;
	/* bound as wanted by someone else (libvirt, the initramfs): leave it alone */
	if (kind == DP_BIND && strcmp(s->from, s->to) == 0)
		s->action = DP_STEP_SKIP;
	s->result = s->action == DP_STEP_SKIP ? DP_STEP_SKIPPED : DP_STEP_PLANNED;
}

/* Refuses what the host needs or somebody uses, unless forced (then it is a warning). */
static int step_check_safe(struct dp_bind_plan *p, const struct dp_bind_step *s,
                           const struct dp_pci_device *dev, const struct dp_bind_options *o)
{
	if (s->action == DP_STEP_SKIP)
		return 0;
	/* vfio-pci's probe turns away anything but a normal (type 0) header */
	if (s->action == DP_STEP_BIND && strcmp(s->to, "vfio-pci") == 0 && dp_pci_device_is_bridge(dev))
		return dp_error_set(-EPERM, "refusing %s: it is a PCI bridge, and bridges cannot be "
		                    "passed through (vfio-pci does not take them); choose an endpoint "
		                    "below it", dev->address);
	if (dev->critical.n && s->action != DP_STEP_RESTORE) {
		if (!o->force)
			return dp_error_set_remedy(-EPERM, DP_REMEDY_FORCE, dev->address,
			                           "refusing %s: it is host-critical: it %s",
			                           dev->address, dev->critical.v[0]);
		if (dp_strv_addf(&p->warnings, "WARNING: %s is host-critical (it %s); going on as forced",
		             dev->address, dev->critical.v[0]) < 0)
			return dp_oom();
	}
	_cleanup_(dp_strv_freep) struct dp_strv users = {0};
	int nusers = dp_device_users(dev, &users);
	if (nusers < 0)
		return nusers;   /* who holds it is unknown: not "nobody" */
	if (nusers > 0) {
		char all[768] = "";
		for (size_t i = 0; i < users.n && strlen(all) + strlen(users.v[i]) + 3 < sizeof(all); i++)
			snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", i ? "; " : "", users.v[i]);
		int r = 0;
		if (!o->force)
			r = dp_error_set_remedy(-EBUSY, DP_REMEDY_FORCE, dev->address, "refusing %s: it "
			                        "is in use: %s (stop those processes first)", dev->address, all);
		else if (dp_strv_addf(&p->warnings, "WARNING: %s is in use (%s); going on as forced",
			             dev->address, all) < 0)
			r = dp_oom();
		return r;
	}
	return 0;
}

/* vfio takes groups whole: binding one function to vfio-pci takes every endpoint of its
 * group (bridges stay with pcieport, which the kernel allows). */
static int plan_group(struct dp_bind_plan *p, const struct dp_pci_list *list,
                      const struct dp_pci_device *dev)
{
	if (dev->iommu_group < 0)
		return dp_error_set_remedy(-ENODEV, DP_REMEDY_CHECK_HOST, dev->address, "%s has no IOMMU "
		                           "group: the IOMMU is off or the device is not behind one",
		                           dev->address);
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *m = &list->dev[i];
		if (m->iommu_group == dev->iommu_group && m != dev && !dp_pci_device_is_bridge(m) &&
		    step_add(p, m, false) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Restoring one function of a group bind took whole brings the rest of that group back
 * too: the functions devpass moved with it, known by their ledger records. */
static int plan_group_recorded(struct dp_bind_plan *p, const struct dp_pci_list *list,
                               const struct dp_pci_device *dev, struct dp_ledger *ledger)
{
	char driver[64], override[64];
	if (dev->iommu_group < 0)
		return 0;
	for (size_t i = 0; i < list->n; i++) {
		const struct dp_pci_device *m = &list->dev[i];
		if (m->iommu_group == dev->iommu_group && m != dev &&
		    dp_ledger_get(ledger, m->address, driver, sizeof(driver), override, sizeof(override)) == 1 &&
		    step_add(p, m, false) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int plan_restore_target(struct dp_bind_step *s, struct dp_ledger *ledger)
{
	int found = dp_ledger_get(ledger, s->address, s->to, sizeof(s->to), s->to_override,
	                          sizeof(s->to_override));
	if (found < 0)
		return found;
	step_target(s, DP_RESTORE, NULL);
	s->in_ledger = found;
	if (!found) {   /* devpass never changed it: nothing of ours to undo */
		s->action = DP_STEP_SKIP;
		s->result = DP_STEP_SKIPPED;
		snprintf(s->to, sizeof(s->to), "%s", s->from);
	}
	return 0;
}

static int plan_requested(struct dp_bind_plan *p, const struct dp_pci_list *list,
                          char *const *addrs, size_t naddrs, bool all, struct dp_ledger *ledger,
                          bool whole_groups)
{
	_cleanup_(dp_strv_freep) struct dp_strv wanted = {0};
	for (size_t i = 0; i < naddrs; i++)
		if (dp_strv_add(&wanted, addrs[i]) < 0)
			return dp_oom();
	int r = all ? dp_ledger_addresses(ledger, &wanted) : 0;
	for (size_t i = 0; r == 0 && i < wanted.n; i++) {
		struct dp_pci_device *dev;
		if ((r = dp_pci_device_lookup(list, wanted.v[i], &dev)) < 0 && all && r == -ENODEV) {
			/* a VF destroyed since: its record must not block the others */
			r = dp_strv_addf(&p->warnings, "WARNING: %s is recorded but no longer present; skipped",
			             wanted.v[i]) < 0 ? dp_oom() : 0;
			continue;
		}
		if (r < 0 || (r = step_add(p, dev, true)) < 0)
			break;
		if (whole_groups)
			r = plan_group(p, list, dev);
		else if (ledger)
			r = plan_group_recorded(p, list, dev, ledger);
	}
	return r;
}

int dp_bind_plan_make(enum dp_bind_kind kind, const struct dp_pci_list *list,
                      char *const *addrs, size_t naddrs, bool all,
                      const struct dp_bind_options *o, struct dp_bind_plan *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = kind;
	out->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	dp_device_users_forget();
	const char *driver = o->driver ? o->driver : "vfio-pci";
	if (kind == DP_BIND && (!*driver || strchr(driver, '/') || strcmp(driver, NO_DRIVER) == 0 ||
	                        !dp_fs_path_is_safe(driver)))
		return dp_error_set(-EINVAL, "'%s' is not a driver name", driver);
	struct dp_ledger *ledger = NULL;
	int r = kind == DP_BIND ? dp_driver_known(driver) : 0;
	if (r == 0 && kind == DP_RESTORE)
		r = dp_ledger_open(&ledger, false);
	bool whole_groups = kind == DP_BIND && strcmp(driver, "vfio-pci") == 0 && !o->only_named;
	if (r == 0)
		r = plan_requested(out, list, addrs, naddrs, all, ledger, whole_groups);
	for (size_t i = 0; r == 0 && i < out->n; i++) {
		struct dp_bind_step *s = &out->steps[i];
		if (kind == DP_RESTORE)
			r = plan_restore_target(s, ledger);
		else
			step_target(s, kind, driver);
		if (r == 0)
			r = step_check_safe(out, s, dp_pci_list_find(list, s->address), o);
	}
	dp_ledger_close(ledger);
	if (r == 0 && out->locked_error)
		r = -EIO;   /* the message says which device, and why */
	/* a plan that cannot be carried out is not carried out at all */
	for (size_t i = 0; r < 0 && i < out->n; i++)
		if (out->steps[i].result == DP_STEP_PLANNED)
			out->steps[i].result = DP_STEP_REFUSED;
	return r;
}

void dp_bind_plan_free(struct dp_bind_plan *plan)
{
	free(plan->steps);
	dp_strv_free(&plan->warnings);
	memset(plan, 0, sizeof(*plan));
}

/* ---- moving one function ------------------------------------------------------------ */

/* Even this write can block: the kernel takes the device lock, which a stuck unbind
 * holds. */
static int override_write(const char *address, const char *override, int timeout_ms)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/driver_override", address);
	/* a lone newline clears the override */
	int r = dp_fs_write(path, *override ? override : "\n", timeout_ms);
	if (r == -ETIMEDOUT)
		return dp_error_set(r, "%s: setting driver_override did not finish in %d s: the device "
		                    "is locked by an operation that hangs", address, timeout_ms / 1000);
	return r < 0 ? dp_error_set(r, "%s: cannot set driver_override to '%s': %s", address,
	                            override, strerror(-r)) : 0;
}

static int unbind_write(const char *address, const char *driver, int timeout_ms)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "sys/bus/pci/drivers/%s/unbind", driver);
	int r = dp_fs_write(path, address, timeout_ms);
	if (r == -ETIMEDOUT)
		return dp_error_set_remedy(r, DP_REMEDY_SHOW_DEVICE, address, "%s: unbinding from %s did "
		                           "not finish in %d s: something still holds the device; it may "
		                           "unbind later", address, driver, timeout_ms / 1000);
	return r < 0 ? dp_error_set(r, "%s: cannot unbind from %s: %s", address, driver, strerror(-r)) : 0;
}

static int probe_write(const char *address, int timeout_ms)
{
	int r = dp_fs_write("sys/bus/pci/drivers_probe", address, timeout_ms);
	return r < 0 ? dp_error_set(r, "%s: drivers_probe failed: %s", address, strerror(-r)) : 0;
}

/* drivers_probe binds synchronously, but a driver may finish a moment later: look
 * again for a short while before calling it a failure. */
static int driver_verify(const char *address, const char *want)
{
	char now[64] = "";
	for (int i = 0; i < 50; i++) {
		if (dp_device_driver(address, now, sizeof(now)) == 0 && strcmp(now, want) == 0)
			return 0;
		if (!*want)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	if (!*want)
		return dp_error_set(-EIO, "%s: still bound to %s after the unbind", address, now);
	return dp_error_set(-EIO, "%s: after drivers_probe it is %s%s, not bound to %s%s", address,
	                    *now ? "bound to " : "", *now ? now : "not bound to any driver", want,
	                    *now ? "" : " (is the driver loaded? does it support this device?)");
}

/* driver_override first, so that the probe can only pick the wanted driver. Writes that
 * would change nothing are left out: each one is a round trip to the writer and, for an
 * unbind or a probe, real work in the kernel. */
static int function_move(const char *address, const char *known_override, const char *want,
                         const char *leave_override, int timeout_ms)
{
	char now[64], override[64];
	int r = dp_device_driver(address, now, sizeof(now));
	if (r < 0)
		return r;
	if (known_override)   /* just read under the group lock */
		snprintf(override, sizeof(override), "%s", known_override);
	else if ((r = dp_device_override(address, override, sizeof(override), timeout_ms)) < 0)
		return r;
	/* to no driver, the final override can go first: nothing probes after an unbind */
	const char *first = *want ? want : leave_override;
	if (strcmp(override, first) != 0 && (r = override_write(address, first, timeout_ms)) < 0)
		return r;
	if (*now && strcmp(now, want) != 0 && (r = unbind_write(address, now, timeout_ms)) < 0)
		return r;
	if (*want && strcmp(now, want) != 0 && (r = probe_write(address, timeout_ms)) < 0)
		return r;
	if ((r = driver_verify(address, want)) < 0)
		return r;
	if (strcmp(leave_override, first) != 0)
		r = override_write(address, leave_override, timeout_ms);
	return r;
}

/* ---- applying a plan ----------------------------------------------------------------- */

/* Records made for functions the run never reached go again after a failure. */
static void plan_forget_untouched(struct dp_bind_plan *plan, struct dp_ledger *ledger)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->steps[i].recorded && !plan->steps[i].touched)
			dp_ledger_forget(ledger, plan->steps[i].address);
}

/* Puts steps [0, upto] back in reverse order; returns how many could not be. */
static int plan_rollback(struct dp_bind_plan *plan, size_t upto, struct dp_ledger *ledger,
                         int timeout_ms, struct dp_strv *trouble)
{
	int failed = 0;
	for (size_t i = upto + 1; i-- > 0;) {
		struct dp_bind_step *s = &plan->steps[i];
		/* a function whose write hangs is locked by the kernel: touching it again would
		 * hang too, so it stays as it is, recorded for a later restore */
		if (!s->touched || s->hung)
			continue;
		if (function_move(s->address, NULL, s->from, s->from_override, timeout_ms) < 0) {
			dp_strv_add(trouble, dp_error_message());
			failed++;
			continue;
		}
		if (s->recorded)
			dp_ledger_forget(ledger, s->address);
	}
	return failed;   /* the caller reads every function back to tell what is true */
}

/* Every function's original state is on disk, in one transaction, before the first
 * write to any of them: a crash at any later point leaves what restore needs. */
static int plan_record(struct dp_bind_plan *plan, struct dp_ledger *ledger,
                       const struct dp_pci_list *list, bool override_is_ours)
{
	int r = dp_ledger_begin(ledger);
	for (size_t i = 0; r == 0 && i < plan->n; i++) {
		struct dp_bind_step *s = &plan->steps[i];
		struct dp_pci_device now = *dp_pci_list_find(list, s->address);
		snprintf(now.driver, sizeof(now.driver), "%s", s->from);   /* as refreshed */
		if (s->action == DP_STEP_BIND || s->action == DP_STEP_UNBIND)
			r = dp_ledger_record(ledger, &now,
			                     override_is_ours && strcmp(s->from_override, s->to) == 0
			                     ? "" : s->from_override, &s->recorded);
	}
	return r == 0 ? dp_ledger_commit(ledger) : r;
}

/* Restored functions leave the ledger together at the end: a crash before that only
 * means a later restore finds them already as they were. */
static int plan_forget_restored(struct dp_bind_plan *plan, struct dp_ledger *ledger)
{
	int r = dp_ledger_begin(ledger);
	for (size_t i = 0; r == 0 && i < plan->n; i++) {
		const struct dp_bind_step *s = &plan->steps[i];
		/* already as recorded (a crash after the moves, before this) counts as restored */
		if (s->in_ledger && (s->result == DP_STEP_DONE || s->result == DP_STEP_SKIPPED))
			r = dp_ledger_forget(ledger, s->address);
	}
	return r == 0 ? dp_ledger_commit(ledger) : r;
}

static int step_apply(struct dp_bind_step *s, int timeout_ms)
{
	s->touched = true;
	return function_move(s->address, s->from_override, s->to, s->to_override, timeout_ms);
}

static int driver_unreadable(const char *address)
{
	return dp_error_set(-EIO, "cannot read %s's driver: %s; nothing was changed", address,
	                    dp_error_message());
}

/* A restore's target as the ledger says under the locks; a function devpass never changed
 * (or whose record a restore has since removed) is left as it is. */
static int restore_target_refresh(struct dp_bind_step *s, struct dp_ledger *ledger)
{
	int found = dp_ledger_get(ledger, s->address, s->to, sizeof(s->to), s->to_override,
	                          sizeof(s->to_override));
	if (found < 0)
		return found;
	s->in_ledger = found;
	if (!found)
		snprintf(s->to, sizeof(s->to), "%s", s->from);
	return 0;
}

/* One step decided again from the function's state now. */
static int step_refresh(struct dp_bind_plan *plan, struct dp_bind_step *s, struct dp_ledger *ledger)
{
	/* a stale "from" would make a restore skip a device that needs it */
	if (dp_device_driver(s->address, s->from, sizeof(s->from)) < 0)
		return driver_unreadable(s->address);
	int r = dp_device_override(s->address, s->from_override, sizeof(s->from_override),
	                           plan->timeout_ms);
	if (r == 0 && plan->kind == DP_RESTORE)
		r = restore_target_refresh(s, ledger);
	if (r < 0)
		return r;
	char driver[64];
	snprintf(driver, sizeof(driver), "%s", s->to);
	step_target(s, plan->kind, driver);
	if (plan->kind == DP_RESTORE && !s->in_ledger) {   /* nothing of ours to undo */
		s->action = DP_STEP_SKIP;
		s->result = DP_STEP_SKIPPED;
	}
	return 0;
}

/* Under the locks every step is decided again, skipped ones too: the plan was made
 * without them, and another devpass may have moved a function meanwhile (a claim still
 * binding a device whose claim went stale and is being collected). A restore that finds a
 * function as recorded forgets the record, so "as recorded" must be true now, not when
 * the plan was made. A step that now has work to do is checked like a planned one. */
static int plan_refresh(struct dp_bind_plan *plan, const struct dp_pci_list *list,
                        struct dp_ledger *ledger, const struct dp_bind_options *o)
{
	for (size_t i = 0; i < plan->n; i++) {
		struct dp_bind_step *s = &plan->steps[i];
		bool was_skipped = s->action == DP_STEP_SKIP;
		int r = step_refresh(plan, s, ledger);
		if (r == 0 && was_skipped && s->action != DP_STEP_SKIP)
			r = step_check_safe(plan, s, dp_pci_list_find(list, s->address), o);
		if (r < 0) {
			for (size_t k = 0; k < plan->n; k++)
				if (plan->steps[k].result == DP_STEP_PLANNED)
					plan->steps[k].result = DP_STEP_REFUSED;
			return r;
		}
	}
	return 0;
}

static void owner_apply(struct dp_bind_plan *plan, const struct dp_bind_options *o)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct dp_bind_step *s = &plan->steps[i];
		char node[64];
		if (s->group < 0 || strcmp(s->to, "vfio-pci") != 0)
			continue;
		snprintf(node, sizeof(node), "dev/vfio/%d", s->group);
		if (dp_fs_chown(node, o->owner_uid, o->owner_gid) < 0)
			dp_strv_addf(&plan->warnings, "WARNING: cannot hand /%s to %u:%u", node,
			             o->owner_uid, o->owner_gid);
	}
}

static int plan_locks_take(const struct dp_bind_plan *plan, struct dp_group_locks *locks)
{
	_cleanup_(dp_strv_freep) struct dp_strv names = {0};
	for (size_t i = 0; i < plan->n; i++)
		if (dp_lock_name_add(&names, plan->steps[i].group, plan->steps[i].address) < 0)
			return -ENOMEM;
	return dp_locks_take(&names, locks);
}

static int drivers_ensure(const struct dp_bind_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct dp_bind_step *s = &plan->steps[i];
		int r = s->action == DP_STEP_SKIP || !*s->to ? 0 : dp_driver_ensure(s->to);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- carrying the moves out: serially, or group by group in parallel ------------- */

struct move_failure {
	size_t at;                   /* the step that failed */
	int r;
	char cause[1024];
};

static bool moves_serial(struct dp_bind_plan *plan, int timeout_ms, struct move_failure *f)
{
	for (size_t i = 0; i < plan->n; i++) {
		struct dp_bind_step *s = &plan->steps[i];
		if (s->action == DP_STEP_SKIP || s->result != DP_STEP_PLANNED)
			continue;
		int r = step_apply(s, timeout_ms);
		if (r == 0) {
			s->result = DP_STEP_DONE;
			continue;
		}
		s->hung = r == -ETIMEDOUT;
		*f = (struct move_failure){.at = i, .r = r};
		snprintf(f->cause, sizeof(f->cause), "%s", dp_error_message());
		return false;
	}
	return true;
}

/* What a worker tells the parent about each step it finished (or failed). */
struct move_report {
	size_t index;
	int r;
	char cause[512];
};

#define PARALLEL_MIN_STEPS 4
#define PARALLEL_MAX_WORKERS 4

static size_t workers_for(const struct dp_bind_plan *plan)
{
	size_t active = 0, groups = 0;
	for (size_t i = 0; i < plan->n; i++) {
		if (plan->steps[i].action == DP_STEP_SKIP)
			continue;
		active++;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = plan->steps[j].action != DP_STEP_SKIP && plan->steps[j].group == plan->steps[i].group;
		groups += !seen;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t w = cpus < 2 ? 1 : (size_t)cpus;
	if (w > PARALLEL_MAX_WORKERS)
		w = PARALLEL_MAX_WORKERS;
	if (w > groups)
		w = groups;
	return active >= PARALLEL_MIN_STEPS ? w : 1;
}

/* A worker moves the functions of its groups in plan order, reporting each; it stops at
 * its first failure, when another worker has failed (*stop), or when the process that
 * started it is gone (killed: like it, its workers stop moving devices; the ledger has
 * what they moved, for gc or restore). */
static void __attribute__((noreturn)) worker_run(struct dp_bind_plan *plan, size_t w, size_t workers,
                                                 int out, volatile int *stop, int timeout_ms,
                                                 pid_t parent)
{
	for (size_t i = 0; i < plan->n && !*stop && getppid() == parent; i++) {
		struct dp_bind_step *s = &plan->steps[i];
		if (s->action == DP_STEP_SKIP || (size_t)s->group % workers != w)
			continue;
		struct move_report rep = {.index = i, .r = step_apply(s, timeout_ms)};
		if (rep.r < 0) {
			snprintf(rep.cause, sizeof(rep.cause), "%s", dp_error_message());
			*stop = 1;
		}
		if (write(out, &rep, sizeof(rep)) != sizeof(rep))
			_exit(1);   /* the parent cannot learn of this step: it counts as half done */
		if (rep.r < 0)
			_exit(0);
	}
	_exit(0);
}

/* Steps a worker reported finish there; a step it started but never reported (the worker
 * died) is treated as touched and failed, so it is put back with the rest. */
static void reports_collect(struct dp_bind_plan *plan, int *fds, size_t workers,
                            struct move_failure *f, bool *failed)
{
	for (size_t w = 0; w < workers; w++) {
		struct move_report rep;
		while (read(fds[w], &rep, sizeof(rep)) == sizeof(rep) && rep.index < plan->n) {
			struct dp_bind_step *s = &plan->steps[rep.index];
			s->touched = true;
			s->result = rep.r == 0 ? DP_STEP_DONE : DP_STEP_FAILED;
			s->hung = rep.r == -ETIMEDOUT;
			if (rep.r < 0 && !*failed) {
				*failed = true;
				*f = (struct move_failure){.at = rep.index, .r = rep.r};
				snprintf(f->cause, sizeof(f->cause), "%s", rep.cause);
			}
		}
		close(fds[w]);
	}
}

/* A worker that died without reporting a failure left its next step half done. */
static void worker_death_note(struct dp_bind_plan *plan, size_t w, size_t workers,
                              struct move_failure *f, bool *failed)
{
	for (size_t i = 0; i < plan->n; i++) {
		struct dp_bind_step *s = &plan->steps[i];
		if (s->action == DP_STEP_SKIP || s->result != DP_STEP_PLANNED || (size_t)s->group % workers != w)
			continue;
		s->touched = true;
		s->result = DP_STEP_FAILED;
		if (!*failed) {
			*failed = true;
			*f = (struct move_failure){.at = i, .r = -EIO};
			snprintf(f->cause, sizeof(f->cause), "%s: the process moving it died", s->address);
		}
		return;
	}
}

static bool moves_parallel(struct dp_bind_plan *plan, size_t workers, int timeout_ms,
                           struct move_failure *f)
{
	volatile int *stop = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
	                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stop == MAP_FAILED)
		return moves_serial(plan, timeout_ms, f);
	*stop = 0;
	int fds[PARALLEL_MAX_WORKERS];
	pid_t pids[PARALLEL_MAX_WORKERS];
	size_t started = 0;
	pid_t me = getpid();
	fflush(NULL);
	for (size_t w = 0; w < workers; w++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			break;
		pids[w] = fork();
		if (pids[w] == 0) {
			close(p[0]);
			worker_run(plan, w, workers, p[1], stop, timeout_ms, me);
		}
		close(p[1]);
		if (pids[w] < 0) {
			close(p[0]);
			break;
		}
		fds[started++] = p[0];
	}
	bool failed = false;
	reports_collect(plan, fds, started, f, &failed);
	for (size_t w = 0; w < started; w++) {
		int status = 0;
		waitpid(pids[w], &status, 0);
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			worker_death_note(plan, w, workers, f, &failed);
	}
	munmap((void *)stop, sizeof(int));
	/* workers that could not be started leave their steps planned: do those here */
	return failed ? false : moves_serial(plan, timeout_ms, f);
}

/* Reads back each function the run touched: what the rollback claims is checked, not
 * assumed. Appends "ADDR is on X (was Y)" for every function not as it was. */
static size_t plan_verify_back(struct dp_bind_plan *plan, int timeout_ms, struct dp_strv *off)
{
	size_t wrong = 0;
	for (size_t i = 0; i < plan->n; i++) {
		struct dp_bind_step *s = &plan->steps[i];
		char driver[64] = "?", override[64] = "?";
		if (!s->touched || s->hung)
			continue;
		bool driver_ok = dp_device_driver(s->address, driver, sizeof(driver)) == 0 &&
		                 strcmp(driver, s->from) == 0;
		bool override_ok = dp_device_override(s->address, override, sizeof(override), timeout_ms) == 0 &&
		                   strcmp(override, s->from_override) == 0;
		if (driver_ok && override_ok) {
			if (s->result == DP_STEP_DONE)
				s->result = DP_STEP_ROLLED_BACK;
			continue;
		}
		wrong++;
		if (!driver_ok)
			dp_strv_addf(off, "%s is %s%s (was %s)", s->address, *driver ? "on " : "",
			             *driver ? driver : "unbound", *s->from ? s->from : "unbound");
		else
			dp_strv_addf(off, "%s has driver_override '%s' (was '%s')", s->address, override,
			             *s->from_override ? s->from_override : "(null)");
	}
	return wrong;
}

static void steps_mark_not_run(struct dp_bind_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->steps[i].result == DP_STEP_PLANNED)
			plan->steps[i].result = DP_STEP_NOT_RUN;
}

static void strv_join(const struct dp_strv *v, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < v->n; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "; " : "", v->v[i]);
}

static int plan_fail(struct dp_bind_plan *plan, const struct move_failure *f,
                     struct dp_ledger *ledger, int timeout_ms)
{
	struct dp_bind_step *s = &plan->steps[f->at];
	s->result = DP_STEP_FAILED;
	steps_mark_not_run(plan);
	struct dp_strv trouble = {0}, off = {0};
	plan_rollback(plan, plan->n - 1, ledger, timeout_ms, &trouble);
	char what[1536];
	if (plan_verify_back(plan, timeout_ms, &off)) {
		strv_join(&off, what, sizeof(what));
		dp_error_set(-EIO, "%s; putting the devices back failed: %s (a restore of them brings "
		             "them back once the cause is fixed)", f->cause, what);
	} else if (s->hung)
		dp_error_set_remedy(-EIO, DP_REMEDY_RESTORE, s->address, "%s; the other devices were put "
		                    "back; %s is left as it is, to restore once nothing holds it",
		                    f->cause, s->address);
	else
		dp_error_set(-EIO, "%s; every device touched was put back as it was", f->cause);
	dp_strv_free(&trouble);
	dp_strv_free(&off);
	plan_forget_untouched(plan, ledger);   /* hung ones were touched: their records stay */
	return -EIO;
}

static int plan_run(struct dp_bind_plan *plan, const struct dp_pci_list *list,
                    struct dp_ledger *ledger, int timeout_ms, const struct dp_bind_options *o)
{
	int r = plan_record(plan, ledger, list, o->override_is_ours);
	if (r < 0)
		return r;
	struct move_failure f = {0};
	size_t workers = workers_for(plan);
	/* independent groups move at once: the kernel's work (vfio-pci's probe and remove)
	 * is most of the time, and it runs on every core */
	bool ok = workers > 1 ? moves_parallel(plan, workers, timeout_ms, &f)
	                      : moves_serial(plan, timeout_ms, &f);
	return ok ? plan_forget_restored(plan, ledger) : plan_fail(plan, &f, ledger, timeout_ms);
}

int dp_bind_plan_apply(struct dp_bind_plan *plan, const struct dp_pci_list *list,
                       const struct dp_bind_options *o)
{
	if (o->dry_run)
		return 0;
	if (!dp_fs_kernel_present()) {
		/* without a kernel nothing moves meanwhile: a plan of skips is already done */
		bool work = false;
		for (size_t i = 0; i < plan->n; i++)
			if (plan->steps[i].result == DP_STEP_PLANNED) {
				plan->steps[i].result = DP_STEP_REFUSED;
				work = true;
			}
		return work ? dp_fs_require_kernel() : 0;
	}
	int r = drivers_ensure(plan);
	if (r < 0)
		return r;
	struct dp_group_locks locks = {0};
	if ((r = plan_locks_take(plan, &locks)) < 0)
		return r;
	struct dp_ledger *ledger = NULL;
	r = dp_ledger_open(&ledger, true);
	if (r == 0)
		r = plan_refresh(plan, list, ledger, o);
	if (r == 0)
		r = drivers_ensure(plan);   /* for steps the refresh found work for */
	if (r == 0)
		r = plan_run(plan, list, ledger, plan->timeout_ms, o);
	if (r == 0 && o->set_owner)
		owner_apply(plan, o);
	dp_ledger_close(ledger);
	dp_group_locks_release(&locks);
	return r;
}
