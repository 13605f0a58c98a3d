// SPDX-License-Identifier: MIT
/*
 * symtab.c - program-counter to function name, for goroutine dumps.
 *
 * dladdr(3) sees only the dynamic symbol table, which holds neither static
 * functions nor the library's own hidden ones, so most frames of a dump
 * would read "?()".  This file reads the full .symtab of the object that
 * holds a pc (the executable or a shared library, found with dladdr),
 * falling back to .dynsym for stripped objects.
 *
 * Objects are mapped read-only on first use and kept in a small table for
 * the life of the process: dumps are rare, and a fatal dump runs in a
 * signal handler, where only system calls (open, mmap) are safe to make.
 *
 * Rejected: libbfd/libdw (large, not async-signal-safe, and a build
 * dependency for a debugging aid) and backtrace_symbols (dynamic symbols
 * only, and it allocates).
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

#define MAX_OBJECTS 16

struct symobj {
	const char *path;		/* dli_fname, owned by the loader */
	const ElfW(Sym) *syms;		/* symbol table in the mapping */
	size_t nsyms;
	const char *strs;		/* its string table */
	uintptr_t bias;			/* load bias: address - st_value */
	bool failed;			/* could not be read: use dladdr */
};

static struct symobj objs[MAX_OBJECTS];
static int nobjs;
static struct gort_lock symlock;

static void load(struct symobj *o)
{
	const ElfW(Ehdr) *eh;
	const ElfW(Shdr) *sh;
	const ElfW(Shdr) *best = NULL;
	struct stat stbuf;
	void *map;
	int fd, i;

	o->failed = true;
	fd = open(o->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &stbuf) || stbuf.st_size < (off_t)sizeof(*eh)) {
		close(fd);
		return;
	}
	map = mmap(NULL, (size_t)stbuf.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(*sh) >
		    (size_t)stbuf.st_size)
		return;
	sh = (const ElfW(Shdr) *)((const char *)map + eh->e_shoff);
	for (i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_SYMTAB)
			best = &sh[i];
		else if (sh[i].sh_type == SHT_DYNSYM && !best)
			best = &sh[i];
	}
	if (!best || best->sh_link >= eh->e_shnum)
		return;
	o->syms = (const ElfW(Sym) *)((const char *)map + best->sh_offset);
	o->nsyms = best->sh_size / sizeof(ElfW(Sym));
	o->strs = (const char *)map + sh[best->sh_link].sh_offset;
	o->failed = false;
}

/*
 * Name of the function holding pc and pc's offset in it; false when no
 * symbol covers it.  *obj and *objoff always describe the object.
 */
bool gort_symbolize(uintptr_t pc, const char **name, uintptr_t *off,
		    const char **obj, uintptr_t *objoff)
{
	Dl_info info;
	struct link_map *lm = NULL;
	struct symobj *o = NULL;
	const ElfW(Sym) *best = NULL;
	uintptr_t rel;
	size_t i;
	int k;

	*obj = "?";
	*objoff = pc;
	if (!dladdr1((void *)pc, &info, (void **)&lm, RTLD_DL_LINKMAP) ||
	    !info.dli_fname) {
		/* a static executable has no link map: it is the program */
		memset(&info, 0, sizeof(info));
		info.dli_fname = "/proc/self/exe";
		lm = NULL;
	}
	*obj = info.dli_fname;
	*objoff = pc - (uintptr_t)info.dli_fbase;
	gort_lock(&symlock);
	for (k = 0; k < nobjs; k++)
		if (objs[k].path == info.dli_fname)
			o = &objs[k];
	if (!o && nobjs < MAX_OBJECTS) {
		o = &objs[nobjs++];
		o->path = info.dli_fname;
		o->bias = lm ? (uintptr_t)lm->l_addr : 0;	/* static: 0 */
		/* the main program is "" in the link map: read /proc */
		if (!*o->path || (lm && !*lm->l_name))
			o->path = "/proc/self/exe";
		load(o);
		o->path = info.dli_fname;
	}
	gort_unlock(&symlock);
	if (!o || o->failed) {
		if (info.dli_sname) {
			*name = info.dli_sname;
			*off = pc - (uintptr_t)info.dli_saddr;
			return true;
		}
		return false;
	}
	rel = pc - o->bias;
	for (i = 0; i < o->nsyms; i++) {
		const ElfW(Sym) *s = &o->syms[i];

		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || !s->st_value)
			continue;
		if (rel < s->st_value || rel >= s->st_value + s->st_size)
			continue;
		if (!best || s->st_value > best->st_value)
			best = s;
	}
	if (!best)
		return false;
	*name = o->strs + best->st_name;
	*off = rel - best->st_value;
	return true;
}
