/* The vm layer's media: OVMF firmware files, the per-VM varstore, qemu-img probe and
 * overlay, the cloud-init seed and its user-data. Runs in a fixture root in a temporary
 * directory; qemu-img (qemu-utils), blkid (util-linux) and osirrox (xorriso) are test
 * dependencies: a missing one fails the test that needs it, naming the package. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devpass.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

static char root[PATH_MAX];

#define ED25519 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
#define RSA_BODY "AAAAB3NzaC1yc2EAAAADAQABAAAAQQAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/"

static void at(char *out, size_t size, const char *rel)
{
	snprintf(out, size, "%s/%s", root, rel);
}

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2];
	at(path, sizeof(path), rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void sub(const char *rel)
{
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", root, rel);
	assert_int_equal(system(cmd), 0);
}

static void gone(const char *rel)
{
	char path[PATH_MAX * 2];
	at(path, sizeof(path), rel);
	assert_int_equal(unlink(path), 0);
}

/* The whole output of a command, or a failed test naming the package that has the tool. */
static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
		len += n;
	buf[len] = '\0';
	int status = pclose(p);
	if (status != 0)
		fail_msg("'%s' exited %d: %s", cmd, status, buf);
	return buf;
}

static void need(const char *tool, const char *package)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	if (system(cmd) != 0)
		fail_msg("%s is missing: install the Debian package %s (a test dependency)", tool,
		         package);
}

/* Entries of a directory of the root, to see that nothing is left behind. */
static int entries(const char *rel)
{
	char path[PATH_MAX * 2];
	at(path, sizeof(path), rel);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void ovmf_files(void)
{
	sub("usr/share/OVMF");
	put("usr/share/OVMF/OVMF_CODE_4M.fd", "code");
	put("usr/share/OVMF/OVMF_VARS_4M.fd", "vars");
	put("usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "code sb");
	put("usr/share/OVMF/OVMF_VARS_4M.ms.fd", "vars ms");
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/devpass-vm-media-XXXXXX");
	assert_non_null(mkdtemp(root));
	ovmf_files();
	sub("var/lib/devpass/vm/t");
	sub("images");
	return dp_root_set(root);
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

/* ---- firmware ----------------------------------------------------------------------- */

static void firmware_debian_names(void **state)
{
	struct dp_vm_firmware_files fw;
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_UEFI, &fw), 0);
	assert_string_equal(fw.code, "usr/share/OVMF/OVMF_CODE_4M.fd");
	assert_string_equal(fw.vars_template, "usr/share/OVMF/OVMF_VARS_4M.fd");
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_SECURE_BOOT, &fw), 0);
	assert_string_equal(fw.code, "usr/share/OVMF/OVMF_CODE_4M.secboot.fd");
	assert_string_equal(fw.vars_template, "usr/share/OVMF/OVMF_VARS_4M.ms.fd");
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_BIOS, &fw), -EINVAL);
}

static void firmware_missing_names_file_and_package(void **state)
{
	struct dp_vm_firmware_files fw;
	gone("usr/share/OVMF/OVMF_CODE_4M.secboot.fd");
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_SECURE_BOOT, &fw), -ENOENT);
	assert_non_null(strstr(dp_error_message(), "OVMF_CODE_4M.secboot.fd"));
	assert_non_null(strstr(dp_error_message(), "package ovmf"));
	gone("usr/share/OVMF/OVMF_VARS_4M.fd");
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_UEFI, &fw), -ENOENT);
	assert_non_null(strstr(dp_error_message(), "OVMF_VARS_4M.fd"));
	assert_non_null(strstr(dp_error_message(), "package ovmf"));
}

static void descriptor(const char *file, const char *code, const char *vars, const char *machine,
                       const char *features)
{
	char text[2048];
	snprintf(text, sizeof(text),
	         "{ \"interface-types\": [\"uefi\"],\n"
	         "  \"mapping\": { \"device\": \"flash\",\n"
	         "    \"executable\": { \"filename\": \"/usr/share/OVMF/%s\", \"format\": \"raw\" },\n"
	         "    \"nvram-template\": { \"filename\": \"/usr/share/OVMF/%s\", \"format\": \"raw\" } },\n"
	         "  \"targets\": [ { \"architecture\": \"x86_64\", \"machines\": [\"%s\"] } ],\n"
	         "  \"features\": [ %s ] }\n", code, vars, machine, features);
	put(file, text);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "usr/share/OVMF/%s", code);
	put(path, "x");
	snprintf(path, sizeof(path), "usr/share/OVMF/%s", vars);
	put(path, "x");
}

/* QEMU's descriptors decide when one fits: Secure Boot needs enrolled keys and SMM, plain
 * UEFI neither; only q35 targets; the first by file name; etc masks usr/share. */
static void firmware_descriptors(void **state)
{
	sub("usr/share/qemu/firmware");
	descriptor("usr/share/qemu/firmware/30-sb-not-enrolled.json", "A.fd", "Av.fd", "pc-q35-*",
	           "\"secure-boot\", \"requires-smm\"");
	descriptor("usr/share/qemu/firmware/40-sb.json", "B.fd", "Bv.fd", "pc-q35-*",
	           "\"acpi-s3\", \"enrolled-keys\", \"requires-smm\", \"secure-boot\"");
	descriptor("usr/share/qemu/firmware/50-i440fx.json", "D.fd", "Dv.fd", "pc-i440fx-*", "");
	descriptor("usr/share/qemu/firmware/55-smm.json", "E.fd", "Ev.fd", "pc-q35-*",
	           "\"requires-smm\"");
	descriptor("usr/share/qemu/firmware/60-plain.json", "C.fd", "Cv.fd", "pc-q35-*",
	           "\"acpi-s3\"");
	struct dp_vm_firmware_files fw;
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_SECURE_BOOT, &fw), 0);
	assert_string_equal(fw.code, "usr/share/OVMF/B.fd");
	assert_string_equal(fw.vars_template, "usr/share/OVMF/Bv.fd");
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_UEFI, &fw), 0);
	assert_string_equal(fw.code, "usr/share/OVMF/C.fd");
	assert_string_equal(fw.vars_template, "usr/share/OVMF/Cv.fd");
	/* a descriptor whose files are missing is passed over */
	gone("usr/share/OVMF/Cv.fd");
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_UEFI, &fw), 0);
	assert_string_equal(fw.code, "usr/share/OVMF/OVMF_CODE_4M.fd");
	/* an empty file of the same name in etc masks the one in usr/share */
	sub("etc/qemu/firmware");
	put("etc/qemu/firmware/40-sb.json", "");
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_SECURE_BOOT, &fw), 0);
	assert_string_equal(fw.code, "usr/share/OVMF/OVMF_CODE_4M.secboot.fd");
	/* and one of its own there wins over usr/share's */
	descriptor("etc/qemu/firmware/40-sb.json", "F.fd", "Fv.fd", "pc-q35-*",
	           "\"enrolled-keys\", \"requires-smm\", \"secure-boot\"");
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_SECURE_BOOT, &fw), 0);
	assert_string_equal(fw.code, "usr/share/OVMF/F.fd");
}

static void vars_copy_once_0600(void **state)
{
	struct dp_vm_firmware_files fw;
	const char *dest = "var/lib/devpass/vm/t/OVMF_VARS.fd";
	assert_int_equal(dp_vm_firmware_find(DP_VM_FW_SECURE_BOOT, &fw), 0);
	assert_int_equal(dp_vm_firmware_vars_copy(&fw, dest), 0);
	char buf[64], path[PATH_MAX * 2];
	assert_int_equal(dp_fs_read(dest, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "vars ms");
	struct stat st;
	at(path, sizeof(path), dest);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* never replaced, even when the template changed */
	put("usr/share/OVMF/OVMF_VARS_4M.ms.fd", "new template");
	assert_int_equal(dp_vm_firmware_vars_copy(&fw, dest), -EEXIST);
	assert_non_null(strstr(dp_error_message(), "OVMF_VARS.fd"));
	assert_int_equal(dp_fs_read(dest, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "vars ms");
	assert_int_equal(entries("var/lib/devpass/vm/t"), 1);
	/* a directory that does not exist: an error, nothing made */
	assert_true(dp_vm_firmware_vars_copy(&fw, "var/lib/devpass/vm/none/OVMF_VARS.fd") < 0);
	gone("usr/share/OVMF/OVMF_VARS_4M.ms.fd");
	assert_int_equal(dp_vm_firmware_vars_copy(&fw, "var/lib/devpass/vm/t/other.fd"), -ENOENT);
	assert_non_null(strstr(dp_error_message(), "package ovmf"));
}

/* ---- cloud-init seed ---------------------------------------------------------------- */

static void seed_reads_back(void **state)
{
	need("blkid", "util-linux");
	need("osirrox", "xorriso");
	const char *user = "#cloud-config\nusers: []\n# \xc3\xa9t\xc3\xa9 \"quoted\"\n";
	const char *meta = "instance-id: \"t-1\"\nlocal-hostname: \"t\"\n";
	assert_int_equal(dp_vm_seed_write("var/lib/devpass/vm/t/seed.iso", user, meta), 0);
	char iso[PATH_MAX * 2], cmd[PATH_MAX * 5];
	at(iso, sizeof(iso), "var/lib/devpass/vm/t/seed.iso");
	snprintf(cmd, sizeof(cmd), "blkid -p -o export '%s'", iso);
	char *out = run(cmd);
	assert_true(strstr(out, "LABEL=cidata\n") || strstr(out, "LABEL=CIDATA\n"));
	assert_non_null(strstr(out, "TYPE=iso9660\n"));
	assert_non_null(strstr(out, "VERSION=Joliet\\ Extension\n"));
	free(out);
	/* Rock Ridge: the SUSP indicator and the extension's reference (IEEE 1282) */
	char *bytes = NULL;
	size_t len = 0;
	assert_int_equal(dp_fs_read_all("var/lib/devpass/vm/t/seed.iso", &bytes, &len), 0);
	assert_non_null(memmem(bytes, len, "SP\x07\x01\xbe\xef", 6));
	assert_true(memmem(bytes, len, "IEEE_1282", 9) || memmem(bytes, len, "RRIP_1991A", 10));
	free(bytes);
	snprintf(cmd, sizeof(cmd), "osirrox -indev '%s' -extract / '%s/x' >/dev/null 2>&1 && "
	         "cat '%s/x/user-data' && printf '|' && cat '%s/x/meta-data'", iso, root, root, root);
	out = run(cmd);
	char want[1024];
	snprintf(want, sizeof(want), "%s|%s", user, meta);
	assert_string_equal(out, want);
	free(out);
	struct stat st;
	assert_int_equal(stat(iso, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size % 2048, 0);
	/* written again (a new instance id): replaced whole, no temporary file left */
	assert_int_equal(dp_vm_seed_write("var/lib/devpass/vm/t/seed.iso", user, "instance-id: x\n"), 0);
	assert_int_equal(entries("var/lib/devpass/vm/t"), 1);
	assert_true(dp_vm_seed_write("var/lib/devpass/vm/none/seed.iso", user, meta) < 0);
}

/* ---- user-data and meta-data --------------------------------------------------------- */

static void ssh_user_data_for_a_key(void **state)
{
	char *ud = NULL;
	assert_int_equal(dp_vm_seed_ssh_user_data(ED25519 " me@host\n", &ud), 0);
	assert_string_equal(ud,
		"#cloud-config\n"
		"users:\n"
		"  - name: " DP_VM_SEED_USER "\n"
		"    groups: [sudo]\n"
		"    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
		"    lock_passwd: true\n"
		"    ssh_authorized_keys:\n"
		"      - \"" ED25519 " me@host\"\n"
		"ssh_pwauth: false\n"
		"disable_root: true\n");
	free(ud);
	/* a comment with YAML's own characters stays inside the quoted string */
	assert_int_equal(dp_vm_seed_ssh_user_data("ssh-rsa " RSA_BODY " a\"b\\c: #d", &ud), 0);
	assert_non_null(strstr(ud, "      - \"ssh-rsa " RSA_BODY " a\\\"b\\\\c: #d\"\n"));
	free(ud);
	assert_int_equal(dp_vm_seed_ssh_user_data(ED25519, &ud), 0);   /* no comment */
	free(ud);
}

static void ssh_refuses(const char *key, const char *why)
{
	char *ud = NULL;
	assert_int_equal(dp_vm_seed_ssh_user_data(key, &ud), -EINVAL);
	assert_null(ud);
	if (!strstr(dp_error_message(), why))
		fail_msg("'%s': message '%s' lacks '%s'", key, dp_error_message(), why);
	const char *subject;
	assert_int_equal(dp_error_remedy(&subject), DP_REMEDY_PARAMETER);
	assert_string_equal(subject, "ssh-key");
}

static void ssh_user_data_refusals(void **state)
{
	ssh_refuses(ED25519 " a\n" ED25519 " b\n", "more than one line");
	ssh_refuses(ED25519 " a\nssh_pwauth: true", "more than one line");
	ssh_refuses(ED25519 " a\tb", "control character");
	ssh_refuses(ED25519 " a\x01", "control character");
	ssh_refuses(ED25519 " \xff\xfe", "UTF-8");
	ssh_refuses("hello world", "unknown key type");
	ssh_refuses("", "TYPE BASE64");
	ssh_refuses("ssh-ed25519", "TYPE BASE64");
	ssh_refuses("command=\"sh\" " ED25519, "unknown key type");
	ssh_refuses("ssh-dss AAAAB3NzaC1kc3M=", "unknown key type");
	ssh_refuses("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f",
	            "not a key of the type");
	ssh_refuses("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAB=gMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f",
	            "not a key of the type");
	ssh_refuses("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4",
	            "not a key of the type");
	ssh_refuses("ssh-ed25519 not!base64", "not a key of the type");
}

static void meta_data(void **state)
{
	char *md = NULL;
	assert_int_equal(dp_vm_seed_meta_data("web_1.x", "web_1.x-1700000000", &md), 0);
	assert_string_equal(md, "instance-id: \"web_1.x-1700000000\"\nlocal-hostname: \"web-1-x\"\n");
	free(md);
	assert_int_equal(dp_vm_seed_meta_data("a_", "1e3", &md), 0);
	assert_string_equal(md, "instance-id: \"1e3\"\nlocal-hostname: \"a\"\n");
	free(md);
	assert_int_equal(dp_vm_seed_meta_data("vm", "x\"y", &md), -EINVAL);
	assert_int_equal(dp_vm_seed_meta_data("vm", "", &md), -EINVAL);
	assert_int_equal(dp_vm_seed_meta_data("a/b", "x", &md), -EINVAL);
}

/* ---- disk image and overlay ------------------------------------------------------------ */

static void image(const char *rel, const char *format)
{
	need("qemu-img", "qemu-utils");
	char path[PATH_MAX * 2], cmd[PATH_MAX * 3];
	at(path, sizeof(path), rel);
	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f %s '%s' 16M", format, path);
	free(run(cmd));
}

static void probe_formats(void **state)
{
	image("images/base.raw", "raw");
	image("images/base.qcow2", "qcow2");
	char format[32];
	assert_int_equal(dp_vm_image_probe("images/base.raw", format, sizeof(format)), 0);
	assert_string_equal(format, "raw");
	assert_int_equal(dp_vm_image_probe("/images/base.qcow2", format, sizeof(format)), 0);
	assert_string_equal(format, "qcow2");
	/* a link inside the root is followed inside it */
	char link[PATH_MAX * 2];
	at(link, sizeof(link), "images/link.qcow2");
	assert_int_equal(symlink("/images/base.qcow2", link), 0);
	assert_int_equal(dp_vm_image_probe("images/link.qcow2", format, sizeof(format)), 0);
	assert_string_equal(format, "qcow2");
}

static void probe_refusals(void **state)
{
	char format[32];
	assert_int_equal(dp_vm_image_probe("images/missing.qcow2", format, sizeof(format)), -ENOENT);
	assert_non_null(strstr(dp_error_message(), "image images/missing.qcow2 does not exist"));
	assert_int_equal(dp_vm_image_probe("images", format, sizeof(format)), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "not a regular file"));
	/* an overlay is not a base: its backing file would go unchecked */
	image("images/base.qcow2", "qcow2");
	assert_int_equal(dp_vm_overlay_create("images/base.qcow2", "qcow2", "images/top.qcow2"), 0);
	assert_int_equal(dp_vm_image_probe("images/top.qcow2", format, sizeof(format)), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "overlay over"));
	/* a file qemu-img cannot read as an image: its own words in the message */
	put("images/bad.qcow2", "QFI\xfb this is no qcow2 header at all......................");
	assert_int_equal(dp_vm_image_probe("images/bad.qcow2", format, sizeof(format)), -EIO);
	assert_non_null(strstr(dp_error_message(), "qemu-img could not read image images/bad.qcow2"));
}

static void probe_without_qemu_img(void **state)
{
	image("images/base.raw", "raw");
	char *saved = strdup(getenv("PATH"));
	char format[32];
	assert_non_null(saved);
	setenv("PATH", root, 1);   /* no qemu-img in there */
	int r = dp_vm_image_probe("images/base.raw", format, sizeof(format));
	setenv("PATH", saved, 1);
	free(saved);
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(dp_error_message(), "qemu-utils"));
}

static char *info(const char *rel)
{
	char path[PATH_MAX * 2], cmd[PATH_MAX * 3];
	at(path, sizeof(path), rel);
	snprintf(cmd, sizeof(cmd), "qemu-img info -U --output=json '%s'", path);
	return run(cmd);
}

static void overlay_over(const char *base, const char *format)
{
	const char *overlay = "var/lib/devpass/vm/t/disk.qcow2";
	char path[PATH_MAX * 2], cmd[PATH_MAX * 5], want[PATH_MAX * 3];
	image(base, format);
	at(path, sizeof(path), base);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.copy'", path, path);
	free(run(cmd));
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(dp_vm_overlay_create(base, format, overlay), 0);
	char *js = info(overlay);
	assert_non_null(strstr(js, "\"format\": \"qcow2\""));
	snprintf(want, sizeof(want), "\"backing-filename\": \"%s\"", path);
	assert_non_null(strstr(js, want));
	snprintf(want, sizeof(want), "\"backing-filename-format\": \"%s\"", format);
	assert_non_null(strstr(js, want));
	free(js);
	/* the base is only read: same size, same time, same bytes */
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	snprintf(cmd, sizeof(cmd), "cmp '%s' '%s.copy'", path, path);
	free(run(cmd));
	at(path, sizeof(path), overlay);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_mode & 07777, 0600);
	/* never replaced */
	assert_int_equal(dp_vm_overlay_create(base, format, overlay), -EEXIST);
	assert_non_null(strstr(dp_error_message(), "disk.qcow2"));
	assert_int_equal(entries("var/lib/devpass/vm/t"), 1);
	gone(overlay);
}

static void overlay_keeps_base(void **state)
{
	overlay_over("images/base.qcow2", "qcow2");
	overlay_over("images/base.raw", "raw");
}

static void overlay_failure_leaves_nothing(void **state)
{
	image("images/base.raw", "raw");
	/* the raw file read as qcow2: qemu-img refuses the backing file */
	assert_int_equal(dp_vm_overlay_create("images/base.raw", "qcow2",
	                                      "var/lib/devpass/vm/t/disk.qcow2"), -EIO);
	assert_non_null(strstr(dp_error_message(), "qemu-img could not create disk overlay"));
	/* qemu-img's words name the overlay, not the temporary file it was given */
	assert_null(strstr(dp_error_message(), ".devpass-"));
	assert_non_null(strstr(dp_error_message(), "qemu-img: var/lib/devpass/vm/t/disk.qcow2:"));
	assert_int_equal(entries("var/lib/devpass/vm/t"), 0);
	assert_int_equal(dp_vm_overlay_create("images/base.raw", "raw; rm -rf /",
	                                      "var/lib/devpass/vm/t/disk.qcow2"), -EINVAL);
	assert_int_equal(dp_vm_overlay_create("images/missing.raw", "raw",
	                                      "var/lib/devpass/vm/t/disk.qcow2"), -ENOENT);
	assert_true(dp_vm_overlay_create("images/base.raw", "raw", "var/lib/devpass/vm/none/d.qcow2") < 0);
	assert_int_equal(entries("var/lib/devpass/vm/t"), 0);
	/* an existing file of any kind is refused, and left as it was */
	put("var/lib/devpass/vm/t/disk.qcow2", "mine");
	assert_int_equal(dp_vm_overlay_create("images/base.raw", "raw",
	                                      "var/lib/devpass/vm/t/disk.qcow2"), -EEXIST);
	char buf[16];
	assert_int_equal(dp_fs_read("var/lib/devpass/vm/t/disk.qcow2", buf, sizeof(buf)), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(firmware_debian_names, setup, teardown),
		cmocka_unit_test_setup_teardown(firmware_missing_names_file_and_package, setup, teardown),
		cmocka_unit_test_setup_teardown(firmware_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(vars_copy_once_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(seed_reads_back, setup, teardown),
		cmocka_unit_test_setup_teardown(ssh_user_data_for_a_key, setup, teardown),
		cmocka_unit_test_setup_teardown(ssh_user_data_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(meta_data, setup, teardown),
		cmocka_unit_test_setup_teardown(probe_formats, setup, teardown),
		cmocka_unit_test_setup_teardown(probe_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(probe_without_qemu_img, setup, teardown),
		cmocka_unit_test_setup_teardown(overlay_keeps_base, setup, teardown),
		cmocka_unit_test_setup_teardown(overlay_failure_leaves_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
