/* SPDX-License-Identifier: MIT */
/*
 * tool_bpf.h - what gort-trace record and gort-top share about attaching
 * to a running gort process: finding the binary that holds its probes,
 * keeping libbpf quiet, and saying in one line why BPF cannot be used.
 */
#ifndef GORT_TOOL_BPF_H
#define GORT_TOOL_BPF_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The file whose .note.stapsdt holds pid's gort probes: the libgort.so it
 * maps, else its executable.  0, or -1 with why set.
 */
int gort_tool_find_binary(int pid, char *buf, size_t len, char *why,
			  size_t wlen);
/* pid's executable's load bias (gort_trace_file_header.exe_bias), or 0. */
uint64_t gort_tool_exe_bias(int pid);
/* Route libbpf's messages to nothing unless GORT_TOOL_DEBUG is set. */
void gort_tool_quiet_libbpf(void);
/*
 * One line for a failed BPF load or attach (-errno): "BPF not permitted:
 * run as root or with CAP_BPF+CAP_PERFMON" for EPERM/EACCES, a missing
 * kernel BTF, or the error's text.
 */
const char *gort_tool_bpf_error(int err);

#endif /* GORT_TOOL_BPF_H */
