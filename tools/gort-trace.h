/* SPDX-License-Identifier: MIT */
/*
 * gort-trace.h - the subcommands of gort-trace (tools/gort-trace.c): each
 * takes its own argv (argv[0] is the subcommand) and returns the exit
 * status: 0, 1 for a failure (one line on stderr says which), 2 for a
 * usage error.
 */
#ifndef GORT_TRACE_TOOL_H
#define GORT_TRACE_TOOL_H

#include <stdint.h>

int gort_trace_convert(int argc, char **argv);
int gort_trace_record(int argc, char **argv);
/* Go's wait-reason text of an enum gort_trace_block_reason. */
const char *gort_block_reason_name(uint64_t reason);

#endif /* GORT_TRACE_TOOL_H */
