/* api.h - helpers shared by the machine-method files (api.c, units.c,
 * copy.c); private to driver/. */
#ifndef DRIVER_API_H
#define DRIVER_API_H

#include "driver.h"

/* execute() on x->m with check_return; the output replaces x->out. */
int api_exec(struct ctx *x, const char *cmd, long timeout, int *status);
/* systemctl Q (as USER when not NULL), like NixOS's systemctl(q, user). */
int api_systemctl(struct ctx *x, const char *q, const char *user, int *status);
/* Log "NODE: output: ..." as NixOS does when a command fails. */
void api_log_output(struct ctx *x, const struct buf *out);

#endif
