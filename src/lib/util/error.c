#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "devpass.h"

/* One message per thread: the last failure, for the caller to show. */
static __thread char last_message[1024];

const char *dp_error_message(void)
{
	return last_message[0] ? last_message : "unknown error";
}

int dp_error_set(int err, const char *fmt, ...)
{
	/* formatted aside first: callers may pass the current message as an argument */
	char message[sizeof(last_message)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	memcpy(last_message, message, sizeof(message));
	return err < 0 ? err : -err;
}
