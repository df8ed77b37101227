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
 * rejected one line per candidate not taken, with the reason. -ENODEV when none. */
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

#endif
