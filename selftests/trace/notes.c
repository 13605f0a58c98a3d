// SPDX-License-Identifier: GPL-2.0
/*
 * notes.c - the probes in the built binaries and in the documents are the
 * table of lib/trace_probes.h, argument for argument.
 *
 * lib/trace_probes.h is the one source of truth.  This program reads the
 * ELF .note.stapsdt section (the notes sys/sdt.h emits, one per probe
 * site: address, link base, semaphore, provider, name, argument operands)
 * of a linked gort program (itself, which links libgort.a) and of
 * libgort.so, and checks that:
 *  - every probe of provider gort in the binary is in the table and not
 *    reserved, and every probe the table does not reserve is there;
 *  - each site has as many arguments as the table lists, the first three
 *    being an unsigned 8-byte goroutine id and signed 4-byte P and M ids;
 *  - a GUARDED probe has exactly one site and a semaphore in .probes, a
 *    PLAIN probe has no semaphore, and every site is in executable code.
 * It then parses the probe tables of Documentation/probes.md and
 * Documentation/gort-probes.7 and checks each lists the same probes, with
 * the same arguments, the reserved ones apart.
 *
 * The ELF reader is a few lines over <elf.h> rather than libelf, so the
 * static AArch64 build (no arm64 libelf here) runs it under qemu too.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_probes.h"
#include "uapi/gort_trace.h"

#include "kselftest_harness.h"

/* ---- the table ---- */

enum probe_class { PLAIN, GUARDED, RESERVED };

struct probe_def {
	const char *name;
	int kind;
	enum probe_class class;
	const char *args;
};

#define DEF(name, kind, class, args) { #name, kind, class, args },
static const struct probe_def table[] = { GORT_TRACE_PROBES(DEF) };
#undef DEF

/* Number of comma-separated names in a table argument list. */
static int list_len(const char *args)
{
	int n = 1;

	for (; *args; args++)
		n += *args == ',';
	return n;
}

static const struct probe_def *lookup(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(table); i++)
		if (!strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}

TEST(table_is_sane)
{
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(table); i++) {
		const struct probe_def *d = &table[i];

		EXPECT_EQ(0, strncmp(d->args, "goid, p, m", 10))
			TH_LOG("%s: arguments start \"%s\"", d->name, d->args);
		EXPECT_LE(list_len(d->args), 5)
			TH_LOG("%s: a record carries two arguments", d->name);
		EXPECT_GT(d->kind, GORT_EV_NONE);
		EXPECT_LT(d->kind, GORT_EV_KIND_COUNT);
		for (j = 0; j < i; j++) {
			EXPECT_STRNE(table[j].name, d->name);
			EXPECT_NE(table[j].kind, d->kind)
				TH_LOG("%s and %s", table[j].name, d->name);
		}
	}
}

/* ---- ELF notes ---- */

struct elf {
	unsigned char *map;
	size_t len;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	const char *shstr;
};

struct note {
	uint64_t pc, sema;
	const char *provider, *name, *args;
};

static int elf_open(const char *path, struct elf *e)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		close(fd);
		return -errno;
	}
	e->len = (size_t)st.st_size;
	e->map = mmap(NULL, e->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (e->map == MAP_FAILED)
		return -errno;
	e->eh = (const Elf64_Ehdr *)e->map;
	if (e->len < sizeof(*e->eh) ||
	    memcmp(e->eh->e_ident, ELFMAG, SELFMAG) ||
	    e->eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    e->eh->e_shoff + (uint64_t)e->eh->e_shnum * sizeof(Elf64_Shdr) >
		    e->len)
		return -ENOEXEC;
	e->sh = (const Elf64_Shdr *)(e->map + e->eh->e_shoff);
	e->shstr = (const char *)e->map + e->sh[e->eh->e_shstrndx].sh_offset;
	return 0;
}

static const Elf64_Shdr *elf_section(const struct elf *e, const char *name)
{
	int i;

	for (i = 0; i < e->eh->e_shnum; i++)
		if (!strcmp(e->shstr + e->sh[i].sh_name, name))
			return &e->sh[i];
	return NULL;
}

/* The allocated section holding addr, or NULL. */
static const Elf64_Shdr *elf_section_at(const struct elf *e, uint64_t addr)
{
	int i;

	for (i = 0; i < e->eh->e_shnum; i++) {
		const Elf64_Shdr *s = &e->sh[i];

		if ((s->sh_flags & SHF_ALLOC) && addr >= s->sh_addr &&
		    addr < s->sh_addr + s->sh_size)
			return s;
	}
	return NULL;
}

/* The notes of provider "gort"; returns how many, -errno on error. */
static int read_notes(const struct elf *e, struct note **out)
{
	const Elf64_Shdr *s = elf_section(e, ".note.stapsdt");
	const unsigned char *p, *end;
	struct note *v = NULL;
	int n = 0;

	if (!s)
		return -ENOENT;
	p = e->map + s->sh_offset;
	end = p + s->sh_size;
	while (p + sizeof(Elf64_Nhdr) <= end) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)p;
		const unsigned char *name = p + sizeof(*nh);
		const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
		struct note nt;

		p = desc + ((nh->n_descsz + 3) & ~3u);
		if (p > end)
			return -EINVAL;
		if (nh->n_type != 3 || strcmp((const char *)name, "stapsdt"))
			continue;
		memcpy(&nt.pc, desc, 8);
		memcpy(&nt.sema, desc + 16, 8);
		nt.provider = (const char *)desc + 24;
		nt.name = nt.provider + strlen(nt.provider) + 1;
		nt.args = nt.name + strlen(nt.name) + 1;
		if (strcmp(nt.provider, "gort"))
			continue;
		v = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		v[n++] = nt;
	}
	*out = v;
	return n;
}

/*
 * Split a note's operand string ("8@%rdi -4@[x19, 16] -4@$-1") into its
 * arguments: spaces separate them except inside an AArch64 [base, off].
 * Returns the count; sizes[i] is the signed size of each (-4: s32).
 */
static int split_args(const char *s, int *sizes, int max)
{
	int n = 0, depth = 0;
	bool start = true;

	for (; *s; s++) {
		if (*s == '[')
			depth++;
		else if (*s == ']')
			depth--;
		if (*s == ' ' && !depth) {
			start = true;
			continue;
		}
		if (start) {
			if (n < max)
				sizes[n] = atoi(s);
			n++;
			start = false;
		}
	}
	return n;
}

/* Check the notes of one binary against the table. */
static void check_binary(struct __test_metadata *_metadata, const char *path)
{
	struct elf e = { 0 };
	struct note *notes = NULL;
	int n, i, ret;
	size_t k;

	ret = elf_open(path, &e);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", path, strerror(-ret));
	n = read_notes(&e, &notes);
	ASSERT_LT(0, n) TH_LOG("%s: no gort probes (%d)", path, n);

	for (i = 0; i < n; i++) {
		const struct note *nt = &notes[i];
		const struct probe_def *d = lookup(nt->name);
		const Elf64_Shdr *text = elf_section_at(&e, nt->pc);
		int sizes[16], nargs;

		ASSERT_NE(NULL, d) TH_LOG("%s: probe %s is not in the table",
					  path, nt->name);
		EXPECT_NE((int)RESERVED, (int)d->class)
			TH_LOG("%s: %s is reserved but present", path,
			       d->name);
		nargs = split_args(nt->args, sizes, 16);
		EXPECT_EQ(list_len(d->args), nargs)
			TH_LOG("%s: %s has arguments \"%s\", the table \"%s\"",
			       path, d->name, nt->args, d->args);
		ASSERT_LE(3, nargs);
		EXPECT_EQ(8, sizes[0]) TH_LOG("%s: goid \"%s\"", d->name,
					      nt->args);
		EXPECT_EQ(-4, sizes[1]) TH_LOG("%s: p \"%s\"", d->name,
					       nt->args);
		EXPECT_EQ(-4, sizes[2]) TH_LOG("%s: m \"%s\"", d->name,
					       nt->args);
		ASSERT_NE(NULL, text) TH_LOG("%s: %s at %#llx", path, d->name,
					     (unsigned long long)nt->pc);
		EXPECT_NE(0u, text->sh_flags & SHF_EXECINSTR);
		if (d->class == GUARDED) {
			const Elf64_Shdr *sec = elf_section_at(&e, nt->sema);

			ASSERT_NE(0u, nt->sema)
				TH_LOG("%s: %s has no semaphore", path,
				       d->name);
			ASSERT_NE(NULL, sec);
			EXPECT_STREQ(".probes", e.shstr + sec->sh_name);
		} else {
			EXPECT_EQ(0u, nt->sema)
				TH_LOG("%s: plain %s has a semaphore", path,
				       d->name);
		}
	}
	for (k = 0; k < ARRAY_SIZE(table); k++) {
		const struct probe_def *d = &table[k];
		int sites = 0;

		for (i = 0; i < n; i++)
			sites += !strcmp(notes[i].name, d->name);
		if (d->class == RESERVED)
			continue;
		EXPECT_LE(1, sites) TH_LOG("%s: probe %s is missing", path,
					   d->name);
		if (d->class == GUARDED)
			EXPECT_EQ(1, sites)
				TH_LOG("%s: guarded %s has %d sites", path,
				       d->name, sites);
	}
	free(notes);
	munmap(e.map, e.len);
}

TEST(program_notes)
{
	char path[4096];
	ssize_t len = readlink("/proc/self/exe", path, sizeof(path) - 1);

	ASSERT_LT(0, len);
	path[len] = '\0';
	check_binary(_metadata, path);
}

TEST(library_notes)
{
	if (access(GORT_LIBSO, R_OK))
		SKIP(return, "%s is not there (the tree moved?)", GORT_LIBSO);
	check_binary(_metadata, GORT_LIBSO);
}

/* ---- the documents ---- */

struct doc_row {
	char name[64];
	char args[128];
	bool reserved;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	long size;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (size = ftell(f)) >= 0) {
		rewind(f);
		buf = malloc((size_t)size + 1);
		if (buf) {
			len = fread(buf, 1, (size_t)size, f);
			buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '`'))
		s[--n] = '\0';
	n = strspn(s, " `");
	memmove(s, s + n, strlen(s + n) + 1);
}

/*
 * Probe rows of Documentation/probes.md: "| `name` | args | text |" lines
 * under "## Probes" and "## Reserved probes".
 */
static int md_rows(char *text, struct doc_row *rows, int max)
{
	char *line, *save = NULL;
	int n = 0, section = 0;	/* 1 probes, 2 reserved */

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1, *c2, *c3;

		if (!strncmp(line, "## ", 3)) {
			section = !strcmp(line, "## Probes") ? 1 :
				  !strcmp(line, "## Reserved probes") ? 2 : 0;
			continue;
		}
		if (!section || strncmp(line, "| `", 3) || n >= max)
			continue;
		c1 = line + 1;
		c2 = strchr(c1, '|');
		if (!c2)
			continue;
		*c2++ = '\0';
		c3 = strchr(c2, '|');
		if (!c3)
			continue;
		*c3 = '\0';
		trim(c1);
		trim(c2);
		snprintf(rows[n].name, sizeof(rows[n].name), "%s", c1);
		snprintf(rows[n].args, sizeof(rows[n].args), "%s", c2);
		rows[n].reserved = section == 2;
		n++;
	}
	return n;
}

/*
 * Probe rows of Documentation/gort-probes.7: tab-separated rows of the
 * tbl tables under ".SH PROBES" and ".SH RESERVED PROBES".
 */
static int man_rows(char *text, struct doc_row *rows, int max)
{
	char *line, *save = NULL;
	int n = 0, section = 0, row = -1;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab, *tab2;

		if (!strncmp(line, ".SH ", 4)) {
			section = !strcmp(line, ".SH PROBES") ? 1 :
				  !strcmp(line, ".SH RESERVED PROBES") ? 2 :
									 0;
			continue;
		}
		if (!strcmp(line, ".TS")) {
			row = 0;
			continue;
		}
		if (!strcmp(line, ".TE")) {
			row = -1;
			continue;
		}
		if (!section || row < 0 || line[0] == '.' ||
		    !strncmp(line, "T}", 2))
			continue;
		tab = strchr(line, '\t');
		if (!tab)
			continue;	/* a format line, or text in T{ T} */
		*tab++ = '\0';
		tab2 = strchr(tab, '\t');
		if (tab2)
			*tab2 = '\0';
		if (!strcmp(line, "probe") || n >= max)
			continue;	/* the heading */
		snprintf(rows[n].name, sizeof(rows[n].name), "%s", line);
		snprintf(rows[n].args, sizeof(rows[n].args), "%s", tab);
		rows[n].reserved = section == 2;
		n++;
	}
	return n;
}

static void check_doc(struct __test_metadata *_metadata, const char *rel,
		      int (*parse)(char *, struct doc_row *, int))
{
	char path[4096];
	struct doc_row rows[128];
	char *text;
	int n, i;
	size_t k;

	snprintf(path, sizeof(path), "%s/%s", GORT_SRCDIR, rel);
	text = slurp(path);
	if (!text)
		SKIP(return, "%s: %s (the tree moved?)", rel, strerror(errno));
	n = parse(text, rows, 128);
	free(text);
	for (i = 0; i < n; i++) {
		const struct probe_def *d = lookup(rows[i].name);

		EXPECT_NE(NULL, d) TH_LOG("%s: %s is not in the table", rel,
					  rows[i].name);
		if (!d)
			continue;
		EXPECT_STREQ(d->args, rows[i].args) TH_LOG("%s: %s", rel,
							   d->name);
		EXPECT_EQ(d->class == RESERVED, rows[i].reserved)
			TH_LOG("%s: %s is%s reserved in the table", rel,
			       d->name, d->class == RESERVED ? "" : " not");
	}
	for (k = 0; k < ARRAY_SIZE(table); k++) {
		int seen = 0;

		for (i = 0; i < n; i++)
			seen += !strcmp(rows[i].name, table[k].name);
		EXPECT_EQ(1, seen) TH_LOG("%s lists %s %d times", rel,
					  table[k].name, seen);
	}
}

TEST(doc_markdown)
{
	check_doc(_metadata, "Documentation/probes.md", md_rows);
}

TEST(doc_manpage)
{
	check_doc(_metadata, "Documentation/gort-probes.7", man_rows);
}

TEST_HARNESS_MAIN
