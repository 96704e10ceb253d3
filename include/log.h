/* log.h - diagnostics for microvm and microvmtest.
 *
 * Every message is one line on stderr prefixed by the program name. Low
 * layers return -errno and leave the wording to the caller that knows which
 * option or file was involved (see docs/architecture.md, "Errors").
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Program name used as the message prefix; set once by main(). */
extern const char *log_prog;
/* When true, log_debug() prints; set by --verbose. */
extern bool log_verbose;

/* Print "PROG: MSG\n" to stderr. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "PROG: warning: MSG\n" to stderr. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "PROG: MSG\n" to stderr when log_verbose is set. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report a hostile or broken guest request once per (site) rather than
 * flooding the log: log_warn the first time *once is false. */
#define log_guest_once(once, ...)                                   \
	do {                                                        \
		if (!*(once)) {                                     \
			*(once) = true;                             \
			log_warn(__VA_ARGS__);                      \
		}                                                   \
	} while (0)

#endif
