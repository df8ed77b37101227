/* The vm layer: definitions, the QEMU command line, launch, supervision, stop.
 * It takes devices only through binding/ and pools/ (docs/vm.md). Internal to libdevpass;
 * the public side is the dp_vm_* section of devpass.h. Paths are root-relative (fs/). */
#ifndef DEVPASS_VM_H
#define DEVPASS_VM_H

#include <sched.h>
#include <stdbool.h>
#include <sys/types.h>

#include "devpass.h"

/* ---- report.c: findings of validate/create/start -------------------------------------- */
/* Adds a finding; advice may be NULL. Returns 0 or -ENOMEM. */
int dp_vm_report_add(struct dp_vm_report *r, const char *check, enum dp_vm_verdict v,
                     const char *advice, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- paths.c: where a VM's files live (root-relative) --------------------------------- */
#define DP_VM_STATE_DIR "var/lib/devpass/vm"   /* NAME/disk.qcow2, OVMF_VARS.fd, seed.iso */
#define DP_VM_RUN_DIR "run/devpass/vm"         /* NAME/qemu.pid, qmp.sock, serial.sock */
int dp_vm_path(const char *name, const char *dir, const char *file, char *out, size_t size);

/* ---- media.c (firmware, disk, cloud-init seed) ------------------------------------------ */
struct dp_vm_firmware_files {
	char code[256];              /* root-relative, read-only pflash 0 */
	char vars_template[256];     /* root-relative, copied once per VM to pflash 1 */
};
/* UEFI: OVMF_CODE_4M.fd + OVMF_VARS_4M.fd; Secure Boot: OVMF_CODE_4M.secboot.fd +
 * OVMF_VARS_4M.ms.fd (Debian's ovmf). -ENOENT naming the file and the package. */
int dp_vm_firmware_find(enum dp_vm_firmware fw, struct dp_vm_firmware_files *out);
int dp_vm_firmware_vars_copy(const struct dp_vm_firmware_files *fw, const char *dest);
/* qemu-img info: the image's format ("qcow2", "raw", ...); -ENOENT/-EINVAL with a message */
int dp_vm_image_probe(const char *image, char *format, size_t size);
/* qemu-img create -f qcow2 -b IMAGE -F FORMAT OVERLAY: the base image is never written */
int dp_vm_overlay_create(const char *image, const char *format, const char *overlay);
/* A NoCloud seed: ISO 9660 volume "cidata" with meta-data and user-data (libisofs). */
int dp_vm_seed_write(const char *dest, const char *user_data, const char *meta_data);
/* An ssh-only #cloud-config for one public key (checked to look like one): no password. */
int dp_vm_seed_ssh_user_data(const char *public_key, char **out);

/* ---- qmp.c, process.c (QMP client, stopping QEMU, the supervisor) ------------------ */
struct dp_qmp;
/* Connects to a QMP socket (root-relative), reads the greeting, negotiates capabilities. */
int dp_qmp_connect(const char *socket_path, int timeout_ms, struct dp_qmp **out);
/* Runs a command; *ret (may be NULL) gets the "return" value; events met are remembered.
 * A QMP error becomes -EIO with QEMU's desc as the message. */
int dp_qmp_execute(struct dp_qmp *q, const char *command, struct json_object *arguments,
                   struct json_object **ret, int timeout_ms);
bool dp_qmp_saw_event(const struct dp_qmp *q, const char *event);
void dp_qmp_free(struct dp_qmp *q);
/* query-cpus-fast: the host thread id of each vCPU, in cpu-index order */
int dp_qmp_vcpu_threads(struct dp_qmp *q, pid_t **tids, size_t *n);
/* Is the QEMU of this pidfile (root-relative) alive? (its fcntl lock is held) */
bool dp_vm_pidfile_locked(const char *pidfile, pid_t *pid);
enum dp_vm_stop_step { DP_VM_GONE_ALREADY, DP_VM_BY_POWERDOWN, DP_VM_BY_QUIT,
                       DP_VM_BY_SIGTERM, DP_VM_BY_SIGKILL };
const char *dp_vm_stop_step_name(enum dp_vm_stop_step s);
/* powerdown, wait powerdown_ms, quit, 5 s, SIGTERM, 5 s, SIGKILL; returns once pid is gone */
int dp_vm_qemu_stop(const char *qmp_socket, pid_t pid, int powerdown_ms,
                    enum dp_vm_stop_step *ended_by);
/* Forks a detached supervisor (own session, no inherited descriptors but none) that waits
 * for qemu_pid to end (pidfd) and then runs on_exit(ctx) and exits. */
int dp_vm_supervisor_spawn(pid_t qemu_pid, int (*on_exit)(void *ctx), void *ctx, pid_t *out);

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
