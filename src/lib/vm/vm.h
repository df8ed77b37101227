/* The vm layer: definitions, the QEMU command line, launch, supervision, stop.
 * It takes devices only through binding/ and pools/ (docs/vm.md). Internal to libdevpass;
 * the public side is the dp_vm_* section of devpass.h. Paths are root-relative (fs/). */
#ifndef DEVPASS_VM_H
#define DEVPASS_VM_H

#include <sched.h>
#include <stdbool.h>
#include <sys/types.h>

#include "alloc-util.h"
#include "devpass.h"

/* ---- report.c: findings of validate/create/start -------------------------------------- */
/* Adds a finding; advice may be NULL. Returns 0 or -ENOMEM. */
int dp_vm_report_add(struct dp_vm_report *r, const char *check, enum dp_vm_verdict v,
                     const char *advice, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- store.c: VMs in the state database ------------------------------------------------ */
struct vm_db;
struct json_object;
int dp_vm_def_from_json(struct json_object *o, struct dp_vm_def *def);
int dp_vm_db_open(struct vm_db **out, bool write);   /* read: a missing database is empty */
void dp_vm_db_close(struct vm_db *d);
int dp_vm_db_begin(struct vm_db *d);
int dp_vm_db_commit(struct vm_db *d);
void dp_vm_db_rollback(struct vm_db *d);
int dp_vm_db_insert(struct vm_db *d, const struct dp_vm_def *def);
int dp_vm_db_delete(struct vm_db *d, const char *name);
int dp_vm_db_defs(struct vm_db *d, const char *name, struct dp_vm_def **defs, size_t *n);
int dp_vm_db_status(struct vm_db *d, const char *name, struct dp_vm_status *out);
int dp_vm_db_run_set(struct vm_db *d, const char *name, const char *state, pid_t qemu, pid_t sup);
int dp_vm_db_run_end(struct vm_db *d, const char *name, const char *how);
int dp_vm_db_take(struct vm_db *d, const char *name, const struct dp_vm_taken *t);
int dp_vm_db_give_back(struct vm_db *d, const char *address);
void dp_vm_db_holder(struct vm_db *d, const char *address, char *out, size_t size);
DEFINE_CLEANUP_PTR(struct vm_db, dp_vm_db_close, dp_vm_db_closep)

/* ---- qemu-args.c: the command line --------------------------------------------------- */
struct dp_vm_hostfn {
	char address[DP_ADDR_LEN];
	struct dp_pci_addr addr;
	int group;
	const char *options;         /* vfio-pci options for the port's function 0, or NULL */
	const char *pool;            /* the pool it was claimed from, NULL: named */
	int port, guest_func;        /* set by dp_vm_guest_layout */
	bool multifunction;
};
struct dp_vm_launch {
	const struct dp_vm_def *def;
	const char *qemu;
	bool kvm;
	int host_node;               /* memory bound to this host node, -1 none */
	const char *hugepages_dir;   /* full paths from here on */
	const char *fw_code, *fw_vars, *disk, *seed, *kernel, *initrd;
	const char *rundir, *statedir;
	struct dp_vm_hostfn *fns;
	size_t nfns;
	int nports;
	const struct dp_strv *usb_hosts;   /* usb-host options: "hostbus=1,hostport=1.2" */
	const struct dp_strv *mdevs;       /* uuids of the mediated devices to pass */
};
int dp_vm_guest_layout(struct dp_vm_hostfn *fns, size_t n);
int dp_vm_qemu_argv(const struct dp_vm_launch *l, struct dp_strv *argv);

/* ---- plan.c, validate.c: what start would do, and whether it can ------------------------ */
struct dp_vm_plan {
	const struct dp_vm_def *def;
	struct dp_vm_hostfn *fns;    /* every function to pass, laid out */
	size_t nfns;
	int nports;
	struct dp_strv explicit_addrs;   /* named or chosen devices (their groups come along) */
	struct dp_strv pool_preview;     /* pool members a claim would pick now */
	struct dp_strv usb_hosts;        /* usb-host options, one per passed USB device */
	struct dp_strv mdevs;            /* uuids of the mediated devices claimed at start */
	int host_node;               /* DP_NO_NUMA: no binding of memory and vCPUs */
	char hugepages_dir[256];     /* root-relative hugetlbfs mount, "" none */
};
void dp_vm_plan_free(struct dp_vm_plan *p);
/* What a --usb spec names: a port (follows a replug there), an id, or a usb pool. */
enum vm_usb_spec { VM_USB_PORT, VM_USB_ID, VM_USB_POOL };
enum vm_usb_spec dp_vm_usb_spec_kind(const char *spec);
/* usb-host's options for a port "B-P[.P...]" or an id "vvvv:pppp[...]"; -EINVAL otherwise */
int dp_vm_usb_host_add(struct dp_strv *hosts, enum vm_usb_spec kind, const char *spec);
DEFINE_CLEANUP_STRUCT(dp_vm_plan, dp_vm_plan_free)
const char *dp_vm_qemu_binary(const struct dp_vm_options *o);
/* Resolves the devices (findings for what cannot be resolved) and the NUMA node. */
int dp_vm_plan_make(const struct dp_vm_def *def, const struct dp_pci_list *list,
                    struct dp_vm_plan *p, struct dp_vm_report *r, bool preview_pools);
/* A --usb request: its usb-host (ports and ids) or the free members of its pool, as
 * findings; a device the host needs or a process holds is a FAIL. */
int dp_vm_plan_usb(struct dp_vm_plan *p, const struct dp_vm_device *want, struct dp_vm_report *r);
/* An --mdev request: whether its mdev pool can make the devices now, as a finding (they
 * are made by the claim at start). */
int dp_vm_plan_mdev(const struct dp_vm_device *want, struct dp_vm_report *r);
int dp_vm_plan_add_functions(struct dp_vm_plan *p, const struct dp_pci_list *list,
                             const struct dp_strv *functions, const char *pool);
int dp_vm_plan_argv(const struct dp_vm_plan *p, const struct dp_vm_options *o, struct dp_strv *argv);
/* Every check of start, as findings: host, devices, groups, memory, firmware, files. */
int dp_vm_plan_check(struct dp_vm_plan *p, const struct dp_pci_list *list, struct dp_vm_report *r);
/* Only what binding the named devices would refuse (host-critical, in use, a group that
 * cannot go whole): create's check, the rest may change before the VM starts. */
int dp_vm_plan_check_devices(const struct dp_vm_plan *p, const struct dp_pci_list *list,
                             struct dp_vm_report *r);

/* ---- start.c, release.c, create.c: the lifecycle ---------------------------------------- */
void dp_vm_owner(const char *name, char *out, size_t size);   /* "vm:NAME", the claims' owner */
int dp_vm_lock(const char *name);
int dp_vm_claim_pools(struct dp_vm_plan *p, const struct dp_pci_list *list, pid_t pid,
                      int timeout_ms, bool add);
int dp_vm_qemu_launch(const struct dp_strv *argv, unsigned long long memory_mib, int timeout_ms,
                      struct dp_vm_report *report);
void dp_vm_run_files_remove(const char *name);
/* With the VM's lock held: gives back what the VM took (named devices to the driver they
 * had, pool members by the pool's policy) and ends the run, recording how (NULL: a start
 * that failed, nothing to record). Nothing taken and no run: nothing done. */
int dp_vm_release(const char *name, const char *how, int timeout_ms, struct dp_claim_list *released);
/* The per-VM files start needs and create made (firmware variables, seed): present? */
int dp_vm_prepare_files(const struct dp_vm_def *def);
/* The first failed finding as the error: "VM 'x' cannot start: ..." (-EPERM) */
int dp_vm_report_error(const struct dp_vm_report *r, const char *name);
const char *dp_vm_report_first_failure(const struct dp_vm_report *r);   /* NULL: none */
int dp_vm_check_files(const struct dp_vm_def *def, struct dp_vm_report *r);

/* ---- paths.c: where a VM's files live (root-relative) --------------------------------- */
#define DP_VM_STATE_DIR "var/lib/devpass/vm"   /* NAME/disk.qcow2, OVMF_VARS.fd, seed.iso */
#define DP_VM_RUN_DIR "run/devpass/vm"         /* NAME/qemu.pid, qmp.sock, serial.sock */
int dp_vm_path(const char *name, const char *dir, const char *file, char *out, size_t size);

/* ---- media: firmware.c, disk.c, seed.c, seed-data.c (firmware, disk, cloud-init seed) -- */
struct dp_vm_firmware_files {
	char code[256];              /* root-relative, read-only pflash 0 */
	char vars_template[256];     /* root-relative, copied once per VM to pflash 1 */
};
/* UEFI: OVMF_CODE_4M.fd + OVMF_VARS_4M.fd; Secure Boot: OVMF_CODE_4M.secboot.fd +
 * OVMF_VARS_4M.ms.fd (Debian's ovmf). -ENOENT naming the file and the package. */
int dp_vm_firmware_find(enum dp_vm_firmware fw, struct dp_vm_firmware_files *out);
/* QEMU's firmware descriptors (etc/qemu/firmware, usr/share/qemu/firmware) are read first.
 * vars_copy: dest gets mode 0600, atomically; -EEXIST when it exists (never replaced). */
int dp_vm_firmware_vars_copy(const struct dp_vm_firmware_files *fw, const char *dest);
/* Image paths are root-relative like every path here: an absolute one is taken under the
 * root (the same file when the root is /); a front end makes a user's relative path
 * absolute first. Symlinks are resolved inside the root before qemu-img sees the path.
 * qemu-img info: the image's format ("qcow2", "raw", ...); -ENOENT (missing, or qemu-img
 * not installed), -EINVAL (not a regular file, itself an overlay, encrypted), -EIO
 * (qemu-img failed: its first line of stderr is in the message). */
int dp_vm_image_probe(const char *image, char *format, size_t size);
/* qemu-img create -f qcow2 -b IMAGE -F FORMAT OVERLAY: the base image is never written;
 * the overlay (mode 0600) records IMAGE's absolute host path. -EEXIST when OVERLAY exists;
 * on failure nothing is left. */
int dp_vm_overlay_create(const char *image, const char *format, const char *overlay);
/* A NoCloud seed: ISO 9660 volume "cidata" (Rock Ridge, Joliet) with meta-data and
 * user-data (libisofs), mode 0600, replacing dest atomically; dest's directory must exist. */
int dp_vm_seed_write(const char *dest, const char *user_data, const char *meta_data);
/* An ssh-only #cloud-config for one public key (checked to look like one): no password.
 * The account is DP_VM_SEED_USER (sudo without password); *out is malloc'ed. */
#define DP_VM_SEED_USER "devpass"
int dp_vm_seed_ssh_user_data(const char *public_key, char **out);
/* meta-data: instance-id (change it and cloud-init runs again), local-hostname from name
 * ('.', '_' become '-'). instance_id: [A-Za-z0-9._:-]{1,128}; *out is malloc'ed. */
int dp_vm_seed_meta_data(const char *name, const char *instance_id, char **out);

/* ---- qmp.c, process.c (QMP client, stopping QEMU, the supervisor) ------------------ */
struct dp_qmp;
/* Connects to a QMP socket (root-relative), reads the greeting, negotiates capabilities.
 * timeout_ms covers all three (< 0: no limit). QEMU serves one monitor client at a time:
 * a second client connects but hears nothing until the first one leaves. */
int dp_qmp_connect(const char *socket_path, int timeout_ms, struct dp_qmp **out);
/* Runs a command; *ret (may be NULL) gets the "return" value; events met are remembered.
 * arguments (NULL: none) stays the caller's. A QMP error becomes -EIO with QEMU's desc as
 * the message; QEMU closing the monitor -ECONNRESET ("quit" may end so, before its
 * return); no reply within timeout_ms (< 0: no limit) -ETIMEDOUT; not JSON -EPROTO. */
int dp_qmp_execute(struct dp_qmp *q, const char *command, struct json_object *arguments,
                   struct json_object **ret, int timeout_ms);
bool dp_qmp_saw_event(const struct dp_qmp *q, const char *event);
void dp_qmp_free(struct dp_qmp *q);
DEFINE_CLEANUP_PTR(struct dp_qmp, dp_qmp_free, dp_qmp_freep)
/* query-cpus-fast: the host thread id of each vCPU, in cpu-index order (*tids malloc'ed) */
int dp_qmp_vcpu_threads(struct dp_qmp *q, pid_t **tids, size_t *n);
/* Is the QEMU of this pidfile (root-relative) alive? (its fcntl lock is held) The lock is
 * only tested, never taken. *pid (may be NULL): the pid in the file, or the lock holder's
 * when they differ; 0 when false. */
bool dp_vm_pidfile_locked(const char *pidfile, pid_t *pid);
enum dp_vm_stop_step { DP_VM_GONE_ALREADY, DP_VM_BY_POWERDOWN, DP_VM_BY_QUIT,
                       DP_VM_BY_SIGTERM, DP_VM_BY_SIGKILL };
const char *dp_vm_stop_step_name(enum dp_vm_stop_step s);
/* The pidfile that vouches for pid: DP_VM_PIDFILE beside qmp_socket (the run dir's layout).
 * pid is signalled only while that file's lock is held and it names pid; a pid it does not
 * vouch for (taken by another process since) is never signalled: -ESRCH, unless it ends
 * within a second (GONE_ALREADY). */
#define DP_VM_PIDFILE "qemu.pid"
/* powerdown, wait powerdown_ms, quit, 5 s, SIGTERM, 5 s, SIGKILL; returns once pid is gone
 * (-ETIMEDOUT if even SIGKILL leaves it alive for a minute: stuck in the kernel). A
 * monitor that cannot be reached skips to the signals. */
int dp_vm_qemu_stop(const char *qmp_socket, pid_t pid, int powerdown_ms,
                    enum dp_vm_stop_step *ended_by);
/* The same with other waits after quit, SIGTERM and SIGKILL (Proxmox scales them with RAM). */
struct dp_vm_stop_waits {
	int quit_ms, sigterm_ms, sigkill_ms;
};
int dp_vm_qemu_stop_waits(const char *qmp_socket, pid_t pid, int powerdown_ms,
                          const struct dp_vm_stop_waits *waits, enum dp_vm_stop_step *ended_by);
/* Forks a detached supervisor (own session, no inherited descriptors but none) that waits
 * for qemu_pid to end (pidfd) and then runs on_exit(ctx) and exits (0 when on_exit returns
 * 0, else 1). *out: the supervisor's pid (not the caller's child). -ESRCH when qemu_pid is
 * already gone (on_exit is not run: the caller cleans up itself). */
int dp_vm_supervisor_spawn(pid_t qemu_pid, int (*on_exit)(void *ctx), void *ctx, pid_t *out);
/* The same, the supervisor's stdout/stderr appended to log (root-relative; NULL: /dev/null):
 * a line when it starts, when QEMU ends and what on_exit returned, and whatever on_exit
 * prints. */
int dp_vm_supervisor_spawn_logged(pid_t qemu_pid, const char *log, int (*on_exit)(void *ctx),
                                  void *ctx, pid_t *out);

/* ---- select.c, tune.c (choosing devices; NUMA, hugepages, memlock) ------------------- */
/* gpu/nvme "auto" or a vendor: a device not host-critical, not in use, not the boot VGA,
 * whose group can be given away whole, preferring ones already on vfio-pci; the lowest
 * address among equals. exclude: addresses other requests took. chosen gets one line,
 * rejected one line per candidate not taken, with the reason. -ENODEV when none.
 * spec: "auto", "nvidia", "amd"/"ati", "intel", 4 hex digits (a vendor id), or an
 * address: that device (-ENODEV none, -EINVAL not of the kind, -EPERM cannot be given,
 * the reason in the message and in rejected). The list as dp_critical_mark left it.
 * chosen: "gpu auto: 0000:40:00.0 NVIDIA ... (group 40, with 0000:40:00.1 audio; already
 * on vfio-pci)"; rejected: "0000:00:02.0 (Intel ...): boot VGA (the host console uses it)". */
int dp_vm_pick(const struct dp_pci_list *list, enum dp_vm_want want, const char *spec,
               const struct dp_strv *exclude, char out[DP_ADDR_LEN], struct dp_strv *chosen,
               struct dp_strv *rejected);
/* Every endpoint (not bridges) of address's IOMMU group, sorted, address included. */
int dp_vm_group_endpoints(const struct dp_pci_list *list, const char *address,
                          struct dp_strv *out);
/* The NUMA node of these devices (the first known), DP_NO_NUMA when none. */
int dp_vm_devices_node(const struct dp_pci_list *list, const struct dp_strv *addrs);
int dp_vm_host_nodes(void);                          /* NUMA nodes online, >= 1 */
int dp_vm_node_cpus(int node, cpu_set_t *out);
int dp_vm_pin_threads(const pid_t *tids, size_t n, const cpu_set_t *cpus);
/* Findings: huge pages free for mib (and a hugetlbfs mount, out: its root-relative path),
 * RLIMIT_MEMLOCK/CAP_IPC_LOCK for mib of pinned RAM, the node's CPUs and memory. */
int dp_vm_check_hugepages(unsigned long long mib, char *mount, size_t size,
                          struct dp_vm_report *r);
int dp_vm_check_memlock(unsigned long long mib, struct dp_vm_report *r);
int dp_vm_check_numa(const struct dp_vm_def *def, int node, struct dp_vm_report *r);
/* The pieces of those checks that take no facts from the host, for tests:
 * "0-3,8-11" (the kernel's cpulist; "" is no CPU) -> a set; -EINVAL with a message. */
int dp_vm_cpulist_parse(const char *text, cpu_set_t *out);
/* limit_bytes: RLIMIT_MEMLOCK's soft limit, ULLONG_MAX when unlimited. */
int dp_vm_memlock_judge(unsigned long long mib, bool cap_ipc_lock, unsigned long long limit_bytes,
                        struct dp_vm_report *r);
struct dp_vm_hugetlb_mount {      /* a hugetlbfs line of proc/self/mountinfo */
	char path[256];           /* root-relative mount point */
	unsigned long long page_kib;   /* pagesize= or the default Hugepagesize; 0 unknown */
	int fs;                   /* dp_fs_is_hugetlbfs: 1, 0 (another filesystem), -errno */
	long long free_pages, total_pages;   /* of that page size; -1 unknown */
};
/* The first mount that holds mib: OK and its path in mount; else one FAIL naming why
 * each mount cannot (or that none is mounted), with advice. */
int dp_vm_hugepages_judge(const struct dp_vm_hugetlb_mount *m, size_t n, unsigned long long mib,
                          char *mount, size_t size, struct dp_vm_report *r);

#endif
