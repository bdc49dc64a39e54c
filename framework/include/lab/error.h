/* lab/error.h — errors that a user can cause.
 *
 * Library code never aborts on bad input. A failing call returns NULL (or a
 * negative int) and leaves a thread-local message naming the op and what was
 * wrong:
 *
 *     lab_tensor *y = lab_matmul(a, b);
 *     if (!y) fprintf(stderr, "error: %s\n", lab_error());
 *
 * A NULL tensor passed to an op makes it return NULL without touching the
 * message, so a training step can check once at the end.
 */
#ifndef LAB_ERROR_H
#define LAB_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The last error of this thread, "" when none. Valid until the next error. */
const char *lab_error(void);

/* Forget the last error (useful before a call whose failure you test). */
void lab_error_clear(void);

/* Set the thread's error message; always returns -1 so that
 * `return lab_error_set(...)` reads naturally in int-returning code. */
int lab_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int lab_error_setv(const char *fmt, va_list ap);

/* Prepend context ("config: ") to the current message. Returns -1. */
int lab_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif
#endif
