/* An in-process fake of the kernel's PCI binding attributes, behind the gateway's write
 * hook, acting on a generated fixture tree: driver_override, drivers/X/unbind,
 * drivers_probe, devices/X/reset and /dev/vfio/N, with faults injected on request. Its state lives in
 * shared memory so that writes made in the gateway's forked children count too. */
#ifndef FAKEKERNEL_H
#define FAKEKERNEL_H

#include <stdbool.h>
#include <stddef.h>

enum fk_fault {
	FK_NONE,
	FK_OVERRIDE_FAILS,   /* the Nth driver_override write fails with EIO */
	FK_UNBIND_FAILS,     /* the Nth unbind fails with EBUSY */
	FK_PROBE_WRONG,      /* the Nth probe binds the device's old driver instead */
	FK_PROBE_NOTHING,    /* the Nth probe binds nothing */
	FK_UNBIND_HANGS,     /* the Nth unbind blocks for 3 s (and is killed by the timeout) */
	FK_CRASH,            /* crash_pid is killed at the Nth driver_override write */
	FK_RESET_FAILS,      /* the Nth reset fails with ENOTTY (no reset method worked) */
	FK_OVERRIDE_FAILS_FROM, /* every driver_override write from the Nth on fails with EIO
	                           (the rollback's too) */
	FK_MDEV_CREATE_EUSERS, /* the Nth mdev create fails with EUSERS (no capacity) */
	FK_MDEV_CREATE_EEXIST, /* the Nth mdev create fails with EEXIST */
	FK_MDEV_REMOVE_HANGS,  /* the Nth mdev remove blocks for 3 s (a VFIO user holds it) */
	FK_MDEV_ATTR_FAILS,    /* the Nth write to an mdev device attribute fails with EINVAL */
};

struct fk_state {
	enum fk_fault fault;
	int fault_at;        /* 1-based count of matching operations */
	int seen;            /* matching operations so far */
	int writes;          /* every write the kernel received */
	int resets;          /* resets that succeeded */
	int crash_pid;       /* the devpass process FK_CRASH kills (writes may come from its
	                        helper process) */
	struct {
		char what[192];  /* the event text that stops a process, armed while non-empty */
	} pause[2];
};

/* Generates `scenario` into a new directory (under $DEVPASS_FK_TMPDIR, else /tmp), sets
 * it as the devpass root and installs the fake kernel; returns the shared state. The
 * counters are updated atomically: forked processes (the stress test's) share them. */
struct fk_state *fk_start(const char *scenario, char *root, size_t size);
void fk_stop(const char *root);
/* Whether the injected fault of this kind is due now (counts the operation). */
bool fk_fault_now(enum fk_fault kind);
/* fakekernel-mdev.c: mdev create/remove and NVIDIA's current_vgpu_type; -ENOSYS when
 * path is no such attribute. */
int fk_mdev_write(const char *root, const char *path, const char *data);
/* Inspection helpers: the driver bound now ("" when none), the override ("" when clear) */
void fk_driver(const char *root, const char *address, char *out, size_t size);
void fk_override(const char *root, const char *address, char *out, size_t size);
int fk_vfio_node_exists(const char *root, int group);
/* Stopping a process at a step, to play an interleaving out deterministically. Events are
 * the writes the fake kernel receives, "write PATH DATA" (DATA without its newline), and
 * the library's named points, "EVENT DETAIL" (see dp_fs_set_event_hook): "lock-wait
 * run/devpass/group-13.lock". fk_pause_at(slot, text) arms the slot: the first process
 * whose event contains text stops there, in whatever process it is (the gateway's write
 * helper, a forked child); fk_pause_wait(slot) returns once it has stopped, and
 * fk_pause_release(slot) lets it go on. The slots wait on FIFOs beside the tree. */
void fk_pause_at(int slot, const char *text);
void fk_pause_wait(int slot);
/* The same for at most timeout_ms: false (and the slot disarmed) when nobody stopped. */
bool fk_pause_wait_for(int slot, int timeout_ms);
void fk_pause_release(int slot);
/* A line to $DEVPASS_FK_TRACE (when set), with the time and the process. */
void fk_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
