// SPDX-License-Identifier: MIT
/*
 * tool_bpf.c - the helpers of tool_bpf.h.
 *
 * libbpf reports every failure at length through its print callback (a
 * verifier log, "failed to load object", "-EPERM" several times over); a
 * user who is simply not root should read one line saying so.  So the
 * callback drops everything (GORT_TOOL_DEBUG=1 restores it) and the
 * callers turn the error number into that one line.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool_bpf.h"

#ifndef GORT_NO_BPF
#include <bpf/libbpf.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (getenv("GORT_TOOL_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

void gort_tool_quiet_libbpf(void)
{
	libbpf_set_print(quiet);
}
#else
void gort_tool_quiet_libbpf(void)
{
}
#endif

const char *gort_tool_bpf_error(int err)
{
	if (err == -EPERM || err == -EACCES)
		return "BPF not permitted: run as root or with CAP_BPF+CAP_PERFMON";
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return "BPF not available: the kernel has no BTF (/sys/kernel/btf/vmlinux)";
	return strerror(err < 0 ? -err : err);
}

int gort_tool_find_binary(int pid, char *buf, size_t len, char *why,
			  size_t wlen)
{
	char path[64], line[4096];
	FILE *f;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(why, wlen, "pid %d: %s", pid,
			 errno == ENOENT ? "no such process" : strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *file = strchr(line, '/');

		if (!file)
			continue;
		file[strcspn(file, "\n")] = '\0';
		if (strstr(file, "/libgort.so")) {
			snprintf(buf, len, "%s", file);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, len - 1);
	if (n < 0) {
		snprintf(why, wlen, "pid %d: %s: %s", pid, path,
			 strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

uint64_t gort_tool_exe_bias(int pid)
{
	char path[64];
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t aux[2], at_phdr = 0;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (read(fd, aux, sizeof(aux)) == sizeof(aux) && aux[0]) {
		if (aux[0] == AT_PHDR)
			at_phdr = aux[1];
	}
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh))
		goto out_close;
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph),
			  (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
		    sizeof(ph))
			break;
		if (ph.p_type == PT_PHDR) {
			close(fd);
			return at_phdr - ph.p_vaddr;
		}
	}
out_close:
	close(fd);
	return 0;
}
