#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devpass.h"
#include "util/error.h"

/* One message per thread: the last failure, for the caller to show, with its remedy. */
static __thread char last_message[1024];
static __thread enum dp_remedy last_remedy;
static __thread char last_subject[128];

const char *dp_error_message(void)
{
	return last_message[0] ? last_message : "unknown error";
}

enum dp_remedy dp_error_remedy(const char **subject)
{
	if (subject)
		*subject = last_subject;
	return last_remedy;
}

static void message_set(const char *fmt, va_list ap)
{
	/* formatted aside first: callers may pass the current message as an argument */
	char message[sizeof(last_message)];
	vsnprintf(message, sizeof(message), fmt, ap);
	memcpy(last_message, message, sizeof(message));
}

int dp_error_set(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message_set(fmt, ap);
	va_end(ap);
	last_remedy = DP_REMEDY_NONE;
	last_subject[0] = '\0';
	return err < 0 ? err : -err;
}

int dp_error_set_remedy(int err, enum dp_remedy remedy, const char *subject, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message_set(fmt, ap);
	va_end(ap);
	last_remedy = remedy;
	snprintf(last_subject, sizeof(last_subject), "%s", subject ? subject : "");
	return err < 0 ? err : -err;
}
