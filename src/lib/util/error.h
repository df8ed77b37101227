/* Internal: errors that carry a remedy (see enum dp_remedy in devpass.h). */
#ifndef DP_ERROR_H
#define DP_ERROR_H

#include "devpass.h"

/* dp_error_set, then records what would resolve it; subject NULL means "". */
int dp_error_set_remedy(int err, enum dp_remedy remedy, const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
