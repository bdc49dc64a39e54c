/* Thread-local error messages (see lab/error.h). */
#include <stdio.h>
#include <string.h>

#include "lab/error.h"

#define LAB_ERROR_LEN 2048

static _Thread_local char err_buf[LAB_ERROR_LEN];

const char *lab_error(void) { return err_buf; }

void lab_error_clear(void) { err_buf[0] = '\0'; }

int lab_error_setv(const char *fmt, va_list ap)
{
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    return -1;
}

int lab_error_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lab_error_setv(fmt, ap);
    va_end(ap);
    return -1;
}

int lab_error_prefix(const char *fmt, ...)
{
    char prefix[LAB_ERROR_LEN], old[LAB_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, sizeof old);
    snprintf(err_buf, sizeof err_buf, "%s%s", prefix, old);
    return -1;
}
