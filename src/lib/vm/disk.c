/* A VM's disk: the user's base image is only ever read; the VM writes to a qcow2 overlay
 * in its state directory whose backing file is the base. qemu-img (Debian's qemu-utils)
 * probes the format and makes the overlay; it is started directly, without a shell.
 *
 * Image paths are root-relative like every other path of the library: an absolute path
 * is taken under the root (the same file when the root is /). Symlinks are resolved inside
 * the root before qemu-img sees the path, so it opens the file devpass checked. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

#define QEMU_IMG "qemu-img"
#define QEMU_IMG_PACKAGE "qemu-utils"
#define OUTPUT_MAX (1 << 20)   /* qemu-img info of one image is a few hundred bytes */

extern char **environ;

DEFINE_CLEANUP_PTR(json_object, json_object_put, json_putp)

struct captured {
	char *text;
	size_t len;
};

static void captured_free(struct captured *c)
{
	free(c->text);
}
DEFINE_CLEANUP_STRUCT(captured, captured_free)

static int captured_read(int fd, struct captured *c)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0)
		return n < 0 && errno == EINTR ? 1 : 0;   /* 0: this stream has ended */
	if (c->len + (size_t)n > OUTPUT_MAX)
		return 1;   /* keep draining, stop keeping */
	char *grown = realloc(c->text, c->len + (size_t)n + 1);
	if (!grown)
		return -ENOMEM;
	memcpy(grown + c->len, buf, (size_t)n);
	c->len += (size_t)n;
	grown[c->len] = '\0';
	c->text = grown;
	return 1;
}

/* Reads both pipes until both end; poll so that neither can fill up and stall the child. */
static int drain(int out_fd, int err_fd, struct captured *out, struct captured *err)
{
	struct pollfd p[2] = { { .fd = out_fd, .events = POLLIN }, { .fd = err_fd, .events = POLLIN } };
	struct captured *dst[2] = { out, err };
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int r = captured_read(p[i].fd, dst[i]);
			if (r < 0)
				return r;
			if (r == 0)
				p[i].fd = -1;
		}
	}
	return 0;
}

static int spawn_piped(char *const argv[], int in, int out, int err, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	int r = posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
	if (r == 0)
		r = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* Runs qemu-img with argv; its stdin is an empty pipe. Returns its exit status (0..255,
 * 128+signal), or -errno when it could not be started (-ENOENT: not installed). */
static int qemu_img_run(char *const argv[], struct captured *out, struct captured *err)
{
	int in[2], o[2], e[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(o, O_CLOEXEC) < 0) {
		close(in[0]), close(in[1]);
		return -errno;
	}
	if (pipe2(e, O_CLOEXEC) < 0) {
		close(in[0]), close(in[1]), close(o[0]), close(o[1]);
		return -errno;
	}
	pid_t pid = 0;
	int r = spawn_piped(argv, in[0], o[1], e[1], &pid);
	close(in[0]), close(in[1]), close(o[1]), close(e[1]);
	if (r == 0)
		r = drain(o[0], e[0], out, err);   /* on failure the closed pipes end the child */
	close(o[0]), close(e[0]);
	if (r < 0 && !pid)
		return r;
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* qemu-img's first line of complaint, for a message; the temporary file it was given
 * (hidden, NULL none) is called by the name the caller knows (shown). */
static const char *first_line(struct captured *err, const char *hidden, const char *shown,
                              char *buf, size_t size)
{
	if (!err->text || !*err->text)
		return "no message";
	err->text[strcspn(err->text, "\n")] = '\0';
	const char *at = hidden ? strstr(err->text, hidden) : NULL;
	if (!at)
		return err->text;
	snprintf(buf, size, "%.*s%s%s", (int)(at - err->text), err->text, shown,
	         at + strlen(hidden));
	return buf;
}

struct qemu_img_call {
	const char *what;     /* "read image X": what qemu-img could not do */
	const char *hidden;   /* a temporary file's host path, NULL none */
	const char *shown;    /* the name to say instead */
};

static int qemu_img(char *const argv[], struct captured *out, const struct qemu_img_call *c)
{
	_cleanup_(captured_freep) struct captured err = {0};
	int r = qemu_img_run(argv, out, &err);
	/* 127: the exec failed in the child, which is how it shows where posix_spawn cannot
	 * report it (under valgrind, for one) */
	if (r == -ENOENT || r == 127)
		return dp_error_set(-ENOENT, "qemu-img is not installed (Debian package %s)",
		                    QEMU_IMG_PACKAGE);
	if (r < 0)
		return dp_error_set(r, "cannot run qemu-img: %s", strerror(-r));
	char line[PATH_MAX + 512];
	if (r != 0)
		return dp_error_set(-EIO, "qemu-img could not %s (exit %d): %s", c->what, r,
		                    first_line(&err, c->hidden, c->shown, line, sizeof(line)));
	return 0;
}

/* The image as an absolute host path, after checking it is a regular file devpass can
 * read. */
static int image_host_path(const char *image, char *host, size_t size)
{
	char resolved[PATH_MAX];
	struct stat st;
	int r = dp_fs_resolve(image, resolved, sizeof(resolved));
	if (r == 0)
		r = dp_fs_stat(resolved, &st);
	if (r == -ENOENT)
		return dp_error_set(r, "image %s does not exist", image);
	if (r < 0)
		return dp_error_set(r, "cannot use image %s: %s", image, strerror(-r));
	if (!S_ISREG(st.st_mode))
		return dp_error_set(-EINVAL, "image %s is not a regular file", image);
	char byte[2];
	ssize_t n = dp_fs_read(resolved, byte, sizeof(byte));
	if (n < 0)
		return dp_error_set((int)n, "cannot read image %s: %s", image, strerror((int)-n));
	r = dp_fs_host_path(resolved, host, size);
	return r < 0 ? dp_error_set(r, "image path %s is too long", image) : 0;
}

/* A format name as qemu-img prints it ("qcow2", "raw", "vmdk"): one lowercase word. */
static bool format_ok(const char *format)
{
	return format && *format && strlen(format) < 32 &&
	       strspn(format, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(format);
}

static int info_check(json_object *info, const char *image, char *format, size_t size)
{
	json_object *f = NULL, *backing = NULL, *enc = NULL;
	const char *fmt = json_object_object_get_ex(info, "format", &f) ? json_object_get_string(f) : NULL;
	if (!format_ok(fmt))
		return dp_error_set(-EINVAL, "qemu-img gave no format for image %s", image);
	/* the overlay would chain to a file named inside the image, which devpass has not
	 * checked and which may lie outside the root */
	if (json_object_object_get_ex(info, "backing-filename", &backing))
		return dp_error_set(-EINVAL, "image %s is itself an overlay over %s: a base image "
		                    "must stand alone (convert it into one file first)", image,
		                    json_object_get_string(backing));
	if (json_object_object_get_ex(info, "encrypted", &enc) && json_object_get_boolean(enc))
		return dp_error_set(-EINVAL, "image %s is encrypted, which is not supported", image);
	if (strlen(fmt) >= size)
		return dp_error_set(-ENAMETOOLONG, "format '%s' of image %s is too long", fmt, image);
	strcpy(format, fmt);
	return 0;
}

int dp_vm_image_probe(const char *image, char *format, size_t size)
{
	char host[PATH_MAX];
	int r = image_host_path(image, host, sizeof(host));
	if (r < 0)
		return r;
	/* -U: an image a running VM holds can still be probed (it is only read) */
	char *argv[] = { QEMU_IMG, "info", "--output=json", "-U", host, NULL };
	_cleanup_(captured_freep) struct captured out = {0};
	char what[PATH_MAX + 32];
	snprintf(what, sizeof(what), "read image %s", image);
	if ((r = qemu_img(argv, &out, &(struct qemu_img_call){ .what = what })) < 0)
		return r;
	_cleanup_(json_putp) json_object *info = out.text ? json_tokener_parse(out.text) : NULL;
	if (!info)
		return dp_error_set(-EIO, "qemu-img info of image %s printed no JSON", image);
	return info_check(info, image, format, size);
}

/* The overlay's directory, resolved inside the root; tmp gets a name beside the overlay
 * (root-relative), host the same file's absolute path for qemu-img. */
static int overlay_temp(const char *overlay, char *tmp, size_t tsize, char *host, size_t hsize)
{
	char dir[PATH_MAX], resolved[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", overlay);
	char *slash = strrchr(dir, '/');
	const char *name = slash ? slash + 1 : overlay;
	if (slash)
		*slash = '\0';
	int r = dp_fs_resolve(slash ? dir : "", resolved, sizeof(resolved));
	if (r < 0)
		return dp_error_set(r, "cannot use the directory of disk overlay %s: %s", overlay,
		                    strerror(-r));
	int n = snprintf(tmp, tsize, "%s%s.%s.devpass-%d", resolved, *resolved ? "/" : "", name,
	                 (int)getpid());
	if (n < 0 || (size_t)n >= tsize || dp_fs_host_path(tmp, host, hsize) < 0)
		return dp_error_set(-ENAMETOOLONG, "disk overlay path %s is too long", overlay);
	return 0;
}

/* The overlay is made under a temporary name and moved into place only when complete, so
 * a failure leaves nothing and a finished overlay is never half-written. */
int dp_vm_overlay_create(const char *image, const char *format, const char *overlay)
{
	if (!format_ok(format))
		return dp_error_set(-EINVAL, "'%s' is not an image format", format ? format : "");
	if (dp_fs_exists(overlay))
		return dp_error_set(-EEXIST, "disk overlay %s exists already: it holds a VM's "
		                    "disk and is never replaced", overlay);
	char base[PATH_MAX], tmp[PATH_MAX], host[PATH_MAX];
	int r = image_host_path(image, base, sizeof(base));
	if (r == 0)
		r = overlay_temp(overlay, tmp, sizeof(tmp), host, sizeof(host));
	if (r < 0)
		return r;
	char *argv[] = { QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", base, "-F",
	                 (char *)format, host, NULL };
	_cleanup_(captured_freep) struct captured out = {0};
	char what[PATH_MAX + 32];
	snprintf(what, sizeof(what), "create disk overlay %s", overlay);
	r = qemu_img(argv, &out, &(struct qemu_img_call){ what, host, overlay });
	if (r == 0 && (r = dp_fs_chmod(tmp, 0600)) < 0)
		dp_error_set(r, "cannot restrict disk overlay %s: %s", overlay, strerror(-r));
	if (r == 0 && (r = dp_fs_rename_noreplace(tmp, overlay)) < 0)
		dp_error_set(r, "cannot put disk overlay %s in place: %s", overlay, strerror(-r));
	if (r < 0)
		dp_fs_unlink(tmp);   /* qemu-img may have begun it */
	return r;
}
