// SPDX-License-Identifier: MIT
/*
 * gort-trace - work with gort execution traces (Documentation/tools.md):
 *
 *   gort-trace convert [--from NS] [--to NS] [--split NS] [--exe FILE]
 *                      [--stats] IN OUT
 *       a trace file (GORT_TRACE, gort_trace_start, a flight-recorder
 *       dump, gort-trace record) to a Perfetto trace (convert.c);
 *   gort-trace record -p PID [-o FILE] [-d SECONDS]
 *       the same trace file format from a running gort program's USDT
 *       probes, through BPF (record.c).
 *
 * Exit status: 0; 1 when the work failed, with one line on stderr; 2 for
 * a usage error.  One binary with subcommands, as perf and bpftool are,
 * so that the two share the trace format code and one man page.
 */
#include <stdio.h>
#include <string.h>

#include "gort-trace.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: gort-trace convert [--from NS] [--to NS] [--split NS] [--exe FILE] [--stats] IN OUT\n"
		"       gort-trace record -p PID [-o FILE] [-d SECONDS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "convert"))
		return gort_trace_convert(argc - 1, argv + 1);
	if (!strcmp(argv[1], "record"))
		return gort_trace_record(argc - 1, argv + 1);
	return usage();
}
