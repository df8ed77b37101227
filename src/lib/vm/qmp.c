/* A client of QEMU's JSON monitor (QMP): newline-delimited JSON over a unix socket. QEMU
 * greets, wants "qmp_capabilities" before anything else, and sends events at any time —
 * the events a command causes (POWERDOWN, STOP) come before its return — so every wait
 * for a reply skips and remembers events, and every read has a deadline. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

DEFINE_CLEANUP_PTR(struct json_object, json_object_put, json_object_putp)

struct dp_qmp {
	int fd;
	struct json_tokener *tok;
	char buf[4096];
	size_t start, end;          /* buf[start, end): read, not yet given to the tokener */
	struct dp_strv events;      /* names of the events met, each once */
	long long next_id;
	char socket[256];           /* root-relative, for messages */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* timeout_ms < 0: no deadline */
static long long deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? LLONG_MAX : now_ms() + timeout_ms;
}

static int ms_left(long long deadline)
{
	if (deadline == LLONG_MAX)
		return -1;
	long long left = deadline - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* 0 once fd is ready for events, -ETIMEDOUT at the deadline. */
static int fd_wait(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, ms_left(deadline));
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int fill(struct dp_qmp *q, long long deadline)
{
	q->start = q->end = 0;
	for (;;) {
		int r = fd_wait(q->fd, POLLIN, deadline);
		if (r < 0)
			return r;
		ssize_t n = read(q->fd, q->buf, sizeof(q->buf));
		if (n > 0) {
			q->end = (size_t)n;
			return 0;
		}
		if (n == 0 || errno == ECONNRESET)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

/* The next whole JSON value from the stream, however QEMU's writes split it. */
static int next_message(struct dp_qmp *q, long long deadline, struct json_object **out)
{
	for (;;) {
		if (q->start < q->end) {
			struct json_object *o = json_tokener_parse_ex(q->tok, q->buf + q->start,
			                                              (int)(q->end - q->start));
			enum json_tokener_error e = json_tokener_get_error(q->tok);
			if (o) {
				q->start += json_tokener_get_parse_end(q->tok);
				json_tokener_reset(q->tok);
				*out = o;
				return 0;
			}
			if (e != json_tokener_continue) {
				json_tokener_reset(q->tok);
				q->start = q->end = 0;
				return -EPROTO;
			}
		}
		int r = fill(q, deadline);
		if (r < 0)
			return r;
	}
}

static int note_event(struct dp_qmp *q, struct json_object *msg)
{
	struct json_object *name;
	if (!json_object_object_get_ex(msg, "event", &name))
		return 0;
	const char *s = json_object_get_string(name);
	if (!s || dp_strv_contains(&q->events, s))
		return 1;
	return dp_strv_add(&q->events, s) < 0 ? -ENOMEM : 1;
}

/* A reply to command id: "return" or "error", with our id (or none: QEMU cannot echo
 * the id of a line it could not parse). Replies to earlier commands given up on are
 * skipped. */
static bool is_reply_to(struct json_object *msg, long long id)
{
	if (!json_object_object_get_ex(msg, "return", NULL) &&
	    !json_object_object_get_ex(msg, "error", NULL))
		return false;
	struct json_object *got;
	if (!json_object_object_get_ex(msg, "id", &got))
		return true;
	return json_object_is_type(got, json_type_int) && json_object_get_int64(got) == id;
}

static int await_reply(struct dp_qmp *q, long long id, long long deadline,
                       struct json_object **out)
{
	for (;;) {
		_cleanup_(json_object_putp) struct json_object *msg = NULL;
		int r = next_message(q, deadline, &msg);
		if (r < 0)
			return r;
		r = note_event(q, msg);
		if (r < 0)
			return r;
		if (r == 0 && is_reply_to(msg, id)) {
			*out = TAKE_PTR(msg);
			return 0;
		}
	}
}

static int send_all(struct dp_qmp *q, const char *text, size_t len, long long deadline)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = send(q->fd, text + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int r = fd_wait(q->fd, POLLOUT, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

static int send_command(struct dp_qmp *q, const char *command, struct json_object *arguments,
                        long long id, long long deadline)
{
	_cleanup_(json_object_putp) struct json_object *msg = json_object_new_object();
	if (!msg || json_object_object_add(msg, "execute", json_object_new_string(command)) < 0 ||
	    json_object_object_add(msg, "id", json_object_new_int64(id)) < 0)
		return -ENOMEM;
	if (arguments && json_object_object_add(msg, "arguments", json_object_get(arguments)) < 0)
		return -ENOMEM;
	size_t len;
	const char *text = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN, &len);
	_cleanup_free_ char *line = text ? malloc(len + 2) : NULL;
	if (!line)
		return -ENOMEM;
	memcpy(line, text, len);
	memcpy(line + len, "\n", 2);
	return send_all(q, line, len + 1, deadline);
}

/* Says what went wrong talking to the monitor, naming the socket and the command. */
static int report(const struct dp_qmp *q, const char *command, int err, int timeout_ms)
{
	switch (err) {
	case -ETIMEDOUT:
		return dp_error_set(err, "QEMU's monitor %s did not answer '%s' within %d ms",
		                    q->socket, command, timeout_ms);
	case -ECONNRESET:
		return dp_error_set(err, "QEMU closed its monitor %s (waiting for '%s')", q->socket,
		                    command);
	case -EPROTO:
		return dp_error_set(err, "QEMU's monitor %s sent something that is not JSON "
		                    "(waiting for '%s')", q->socket, command);
	case -ENOMEM:
		return dp_oom();
	default:
		return dp_error_set(err, "cannot talk to QEMU's monitor %s ('%s'): %s", q->socket,
		                    command, strerror(-err));
	}
}

static int reply_error(const struct dp_qmp *q, const char *command, struct json_object *reply)
{
	struct json_object *error, *desc = NULL, *class = NULL;
	json_object_object_get_ex(reply, "error", &error);
	json_object_object_get_ex(error, "desc", &desc);
	json_object_object_get_ex(error, "class", &class);
	return dp_error_set(-EIO, "QEMU refused '%s' on %s: %s (%s)", command, q->socket,
	                    desc ? json_object_get_string(desc) : "no description",
	                    class ? json_object_get_string(class) : "no class");
}

static int execute_until(struct dp_qmp *q, const char *command, struct json_object *arguments,
                         struct json_object **ret, long long deadline, int timeout_ms)
{
	long long id = ++q->next_id;
	int r = send_command(q, command, arguments, id, deadline);
	_cleanup_(json_object_putp) struct json_object *reply = NULL;
	if (r == 0)
		r = await_reply(q, id, deadline, &reply);
	if (r < 0)
		return report(q, command, r, timeout_ms);
	if (json_object_object_get_ex(reply, "error", NULL))
		return reply_error(q, command, reply);
	struct json_object *value = NULL;
	json_object_object_get_ex(reply, "return", &value);
	if (ret)
		*ret = json_object_get(value);
	return 0;
}

int dp_qmp_execute(struct dp_qmp *q, const char *command, struct json_object *arguments,
                   struct json_object **ret, int timeout_ms)
{
	if (ret)
		*ret = NULL;
	return execute_until(q, command, arguments, ret, deadline_after(timeout_ms), timeout_ms);
}

bool dp_qmp_saw_event(const struct dp_qmp *q, const char *event)
{
	return q && dp_strv_contains(&q->events, event);
}

void dp_qmp_free(struct dp_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	if (q->tok)
		json_tokener_free(q->tok);
	dp_strv_free(&q->events);
	free(q);
}

static int connect_error(const char *socket_path, int err)
{
	switch (err) {
	case -ENOENT:
		return dp_error_set(err, "QEMU's monitor socket %s does not exist", socket_path);
	case -ECONNREFUSED:
		return dp_error_set(err, "nobody listens on QEMU's monitor socket %s (a stale "
		                    "socket: QEMU is gone)", socket_path);
	case -ETIMEDOUT:
		return dp_error_set(err, "QEMU's monitor socket %s accepted no connection in time",
		                    socket_path);
	default:
		return dp_error_set(err, "cannot connect to QEMU's monitor socket %s: %s",
		                    socket_path, strerror(-err));
	}
}

/* A full backlog (-EAGAIN) clears as QEMU accepts: try again until the deadline. */
static int connect_retrying(const char *socket_path, long long deadline)
{
	for (;;) {
		int fd = dp_fs_unix_connect(socket_path);
		if (fd != -EAGAIN)
			return fd;
		if (ms_left(deadline) == 0)
			return -ETIMEDOUT;
		struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

static int read_greeting(struct dp_qmp *q, long long deadline, int timeout_ms)
{
	_cleanup_(json_object_putp) struct json_object *msg = NULL;
	int r = next_message(q, deadline, &msg);
	if (r < 0)
		return report(q, "greeting", r, timeout_ms);
	struct json_object *qmp;
	if (!json_object_object_get_ex(msg, "QMP", &qmp) ||
	    !json_object_is_type(qmp, json_type_object))
		return dp_error_set(-EPROTO, "%s is not a QMP monitor (its first message is not "
		                    "QEMU's greeting)", q->socket);
	return 0;
}

int dp_qmp_connect(const char *socket_path, int timeout_ms, struct dp_qmp **out)
{
	*out = NULL;
	long long deadline = deadline_after(timeout_ms);
	_cleanup_(dp_qmp_freep) struct dp_qmp *q = calloc(1, sizeof(*q));
	if (!q)
		return dp_oom();
	q->fd = -1;
	snprintf(q->socket, sizeof(q->socket), "%s", socket_path);
	q->tok = json_tokener_new();
	if (!q->tok)
		return dp_oom();
	q->fd = connect_retrying(socket_path, deadline);
	if (q->fd < 0)
		return connect_error(socket_path, q->fd);
	int r = read_greeting(q, deadline, timeout_ms);
	if (r < 0)
		return r;
	r = execute_until(q, "qmp_capabilities", NULL, NULL, deadline, timeout_ms);
	if (r < 0)
		return r;
	*out = TAKE_PTR(q);
	return 0;
}

struct vcpu {
	long long index;
	pid_t tid;
};

static int vcpu_cmp(const void *a, const void *b)
{
	const struct vcpu *x = a, *y = b;
	return (x->index > y->index) - (x->index < y->index);
}

static int vcpu_read(struct json_object *cpu, struct vcpu *out)
{
	struct json_object *index, *tid;
	if (!json_object_object_get_ex(cpu, "cpu-index", &index) ||
	    !json_object_object_get_ex(cpu, "thread-id", &tid))
		return -EPROTO;
	out->index = json_object_get_int64(index);
	out->tid = (pid_t)json_object_get_int64(tid);
	return out->tid > 0 ? 0 : -EPROTO;
}

int dp_qmp_vcpu_threads(struct dp_qmp *q, pid_t **tids, size_t *n)
{
	*tids = NULL;
	*n = 0;
	_cleanup_(json_object_putp) struct json_object *cpus = NULL;
	int r = dp_qmp_execute(q, "query-cpus-fast", NULL, &cpus, 5000);
	if (r < 0)
		return r;
	if (!json_object_is_type(cpus, json_type_array))
		return dp_error_set(-EPROTO, "query-cpus-fast on %s returned no list", q->socket);
	size_t count = json_object_array_length(cpus);
	_cleanup_free_ struct vcpu *v = calloc(count ? count : 1, sizeof(*v));
	_cleanup_free_ pid_t *out = calloc(count ? count : 1, sizeof(*out));
	if (!v || !out)
		return dp_oom();
	for (size_t i = 0; i < count; i++)
		if (vcpu_read(json_object_array_get_idx(cpus, i), &v[i]) < 0)
			return dp_error_set(-EPROTO, "query-cpus-fast on %s: vCPU %zu has no "
			                    "cpu-index or thread-id", q->socket, i);
	qsort(v, count, sizeof(*v), vcpu_cmp);
	for (size_t i = 0; i < count; i++)
		out[i] = v[i].tid;
	*tids = TAKE_PTR(out);
	*n = count;
	return 0;
}
