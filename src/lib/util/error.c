#include <stdarg.h>
#include <stdio.h>

#include "devpass.h"

/* One message per thread: the last failure, for the caller to show. */
static __thread char last_message[1024];

const char *dp_error_message(void)
{
	return last_message[0] ? last_message : "unknown error";
}

int dp_error_set(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}
