// SPDX-License-Identifier: MIT
/*
 * convert.c - `gort-trace convert`: a gort trace file to a Perfetto trace
 * (protobuf TracePackets of TrackDescriptors and TrackEvents), streaming.
 *
 * What the output holds, under one process track named after the pid:
 *  - a track per P ("P3"): a slice per M holding it ("M5", from
 *    proc_start to proc_stop) and, nested in it, a slice per goroutine run
 *    on it ("G17 main.worker"), go_start to the goroutine leaving;
 *  - a track per goroutine ("G17 main.worker", with the function when the
 *    go_create was seen and the executable given with --exe): slices for
 *    its states, one at a time: "running" (on P<n>), "runnable" (created,
 *    readied or yielded, until it starts), "blocked: <reason>"; "syscall"
 *    and "GC mark assist" slices nest inside "running"; instants "end";
 *  - flows from the "unblock G<n>" instant on the track of whoever readied
 *    a goroutine (its goroutine, or its P, or the "runtime" track) to the
 *    goroutine's next "running" slice, and "create G<n>" instants;
 *  - tracks "GC" (gc_begin..gc_end), "GC sweep", "STW" (stw_begin..end),
 *    and counters "heap_alloc", "heap_goal" (bytes) and "GOMAXPROCS",
 *    each made only when its events exist.
 *
 * Invariant: every track keeps a stack of its open slices, and ending a
 * slice ends the ones nested in it first, at the same time, so whatever
 * order odd input arrives in (a flight window, a truncated file, a P
 * taken from a goroutine in a system call), the output's slices nest: the
 * one thing Perfetto's importer insists on.
 *
 * Windows: --from/--to keep [from, to) (ns since the trace started) and
 * --split NS writes one file per NS-long window.  The state machine always
 * runs from the start; only emission is gated.  When a window opens, the
 * slices open at that moment are begun at its start (and counters set to
 * their values), and when it closes, they are ended at its end, so every
 * window file stands alone.  A flow whose source is in an earlier file is
 * dropped.  A flight-recorder window starts where every thread's records
 * are there (trace_read.h's complete_ns) and ends where it was asked for;
 * a cut-off file ends where its cut thread's records do.
 *
 * Memory: the reader's (trace_read.h) plus the state of each live
 * goroutine and P; an ended goroutine's state is freed.
 *
 * Rejected: the JSON trace-event format (see perfetto.h), and interning
 * names (a smaller file, but the state of interned strings would have to
 * be rebuilt at every split and the output is compressed by Perfetto's
 * loader anyway).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gort-trace.h"
#include "perfetto.h"
#include "trace_read.h"

#define MAXDEPTH 6		/* open slices a track can stack */

enum track_kind { TK_PROCESS, TK_P, TK_G, TK_NAMED, TK_COUNTER };

struct slice {
	char name[64];		/* as it was begun */
	uint64_t ts;		/* begin time */
	uint64_t flow;		/* terminating flow id, or 0 */
	uint64_t goid;		/* on a P track: the goroutine shown */
	bool emitted;		/* its begin is in the current file */
};

struct track {
	uint64_t uuid;			/* TrackDescriptor.uuid */
	enum track_kind kind;
	uint32_t gen;			/* file whose descriptor it has + 1 */
	int depth;			/* open slices */
	struct slice stk[MAXDEPTH];	/* open slices, outermost first */
	char name[96];			/* its name */
	uint32_t unit;			/* counters: CounterDescriptor.Unit */
	bool has_value;			/* counters: value is set */
	int64_t value;			/* counters: the last value */
};

struct gst {
	uint64_t goid;
	uint64_t fn;			/* from go_create, 0: not seen */
	int32_t p;			/* P it runs on, -1 */
	int p_level;			/* depth of its slice on that P */
	uint64_t flow;			/* pending unblock flow, or 0 */
	uint32_t flow_gen;		/* file the flow's source went to */
	struct track t;
	struct gst *next;		/* hash chain */
};

#define GHASH 4096
#define NAMED_MAX 8

static struct {
	/* options */
	const char *out;		/* output path (split: a prefix) */
	uint64_t from, to, split;	/* ns since start; to 0: none */
	bool stats;
	/* the symbols of --exe */
	struct sym *syms;
	size_t nsyms;
	char *strtab;
	/* input */
	struct tr_reader rd;
	uint64_t t0;			/* header start_ns */
	/* output */
	FILE *f;
	uint32_t gen;			/* current file + 1, 0: none open */
	bool open;			/* inside the current window */
	uint64_t lo, hi;		/* the window, absolute ns */
	unsigned int files;
	struct pb pkt, te, tmp, tmp2;
	bool first_packet;
	/* state */
	struct track proc;
	struct track *ps;		/* P tracks, by id */
	int nps;
	struct gst *g[GHASH];
	struct track named[NAMED_MAX];	/* GC, STW, runtime, counters */
	uint64_t next_flow;
	uint64_t nev, nflows, ngs, nslices;
	int write_err;
} cv;

enum named_id { N_RUNTIME, N_GC, N_SWEEP, N_STW, N_HEAP, N_GOAL, N_PROCS };

struct sym {
	uint64_t addr, size;
	uint32_t name;			/* offset in strtab */
};

/* ---- symbols ---- */

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Load the function symbols of an ELF file (.symtab, else .dynsym). */
static int load_syms(const char *path)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	struct stat st;
	int fd, pass;
	void *map;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "gort-trace: %s: %s\n", path, strerror(errno));
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "gort-trace: %s: %s\n", path, strerror(errno));
		return -1;
	}
	eh = map;
	if ((size_t)st.st_size < sizeof(*eh) ||
	    memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) >
		    (uint64_t)st.st_size) {
		fprintf(stderr, "gort-trace: %s: not a 64-bit ELF file\n",
			path);
		return -1;
	}
	sh = (const void *)((const char *)map + eh->e_shoff);
	for (pass = 0; pass < 2 && !cv.nsyms; pass++) {
		uint32_t want = pass ? SHT_DYNSYM : SHT_SYMTAB;
		int i;

		for (i = 0; i < eh->e_shnum; i++) {
			const Elf64_Sym *sy;
			const Elf64_Shdr *str;
			size_t j, n;

			if (sh[i].sh_type != want ||
			    sh[i].sh_link >= eh->e_shnum)
				continue;
			str = &sh[sh[i].sh_link];
			sy = (const void *)((const char *)map +
					    sh[i].sh_offset);
			n = sh[i].sh_size / sizeof(*sy);
			cv.strtab = malloc(str->sh_size + 1);
			cv.syms = calloc(n ? n : 1, sizeof(*cv.syms));
			if (!cv.strtab || !cv.syms)
				return -1;
			memcpy(cv.strtab, (const char *)map + str->sh_offset,
			       str->sh_size);
			cv.strtab[str->sh_size] = '\0';
			for (j = 0; j < n; j++) {
				if (ELF64_ST_TYPE(sy[j].st_info) != STT_FUNC ||
				    !sy[j].st_value ||
				    sy[j].st_name >= str->sh_size)
					continue;
				cv.syms[cv.nsyms].addr = sy[j].st_value;
				cv.syms[cv.nsyms].size = sy[j].st_size;
				cv.syms[cv.nsyms].name = sy[j].st_name;
				cv.nsyms++;
			}
			break;
		}
	}
	munmap(map, (size_t)st.st_size);
	qsort(cv.syms, cv.nsyms, sizeof(*cv.syms), sym_cmp);
	return 0;
}

static const char *sym_name(uint64_t addr)
{
	size_t lo = 0, hi = cv.nsyms;

	addr -= cv.rd.h.exe_bias;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cv.syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	lo--;
	if (addr >= cv.syms[lo].addr + (cv.syms[lo].size ? cv.syms[lo].size :
							     1))
		return NULL;
	return cv.strtab + cv.syms[lo].name;
}

/* ---- output ---- */

static void put_packet(void)
{
	struct pb *o = &cv.tmp2;

	pb_reset(o);
	pb_msg(o, PF_TRACE_PACKET, &cv.pkt);
	if (cv.pkt.oom || o->oom) {
		cv.write_err = ENOMEM;
		return;
	}
	if (fwrite(o->p, 1, o->n, cv.f) != o->n)
		cv.write_err = errno ? errno : EIO;
}

static void packet_start(uint64_t ts)
{
	pb_reset(&cv.pkt);
	if (ts)
		pb_u64(&cv.pkt, PF_PACKET_TIMESTAMP, ts);
	pb_u64(&cv.pkt, PF_PACKET_SEQ_ID, 1);
	if (cv.first_packet) {
		pb_u64(&cv.pkt, PF_PACKET_SEQ_FLAGS,
		       PF_SEQ_INCREMENTAL_STATE_CLEARED);
		cv.first_packet = false;
	}
}

static void track_name(struct track *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s", t->name);
}

/* The descriptor of t, once per file, before its first event. */
static void describe(struct track *t)
{
	struct pb *d = &cv.tmp;
	char name[160];

	if (t->gen == cv.gen)
		return;
	if (t != &cv.proc)
		describe(&cv.proc);
	t->gen = cv.gen;
	pb_reset(d);
	pb_u64(d, PF_TD_UUID, t->uuid);
	track_name(t, name, sizeof(name));
	if (t->kind == TK_PROCESS) {
		struct pb pd = { 0 };

		pb_u64(&pd, PF_PD_PID, cv.rd.h.pid);
		pb_str(&pd, PF_PD_PROCESS_NAME, name);
		pb_msg(d, PF_TD_PROCESS, &pd);
		free(pd.p);
	} else {
		pb_str(d, PF_TD_NAME, name);
		pb_u64(d, PF_TD_PARENT_UUID, cv.proc.uuid);
	}
	if (t->kind == TK_COUNTER) {
		struct pb cd = { 0 };

		pb_u64(&cd, PF_CD_UNIT, t->unit);
		pb_msg(d, PF_TD_COUNTER, &cd);
		free(cd.p);
	}
	packet_start(0);
	pb_msg(&cv.pkt, PF_PACKET_TRACK_DESCRIPTOR, d);
	put_packet();
}

static void annotate_u(struct pb *te, const char *name, uint64_t v)
{
	struct pb a = { 0 };

	pb_str(&a, PF_DA_NAME, name);
	pb_u64(&a, PF_DA_UINT_VALUE, v);
	pb_msg(te, PF_TE_DEBUG_ANNOTATIONS, &a);
	free(a.p);
}

/* One TrackEvent on t: begin (name), end, instant (name) or counter. */
static void emit(struct track *t, uint64_t ts, int type, const char *name,
		 uint64_t flow_out, uint64_t flow_in, int64_t value,
		 const char *ann, uint64_t ann_v)
{
	struct pb *te = &cv.te;

	describe(t);
	pb_reset(te);
	pb_u64(te, PF_TE_TYPE, (uint64_t)type);
	pb_u64(te, PF_TE_TRACK_UUID, t->uuid);
	if (name) {
		pb_str(te, PF_TE_CATEGORIES, "gort");
		pb_str(te, PF_TE_NAME, name);
	}
	if (type == PF_TYPE_COUNTER)
		pb_i64(te, PF_TE_COUNTER_VALUE, value);
	if (flow_out)
		pb_fixed64(te, PF_TE_FLOW_IDS, flow_out);
	if (flow_in)
		pb_fixed64(te, PF_TE_TERMINATING_FLOW_IDS, flow_in);
	if (ann)
		annotate_u(te, ann, ann_v);
	packet_start(ts);
	pb_msg(&cv.pkt, PF_PACKET_TRACK_EVENT, te);
	put_packet();
	if (type == PF_TYPE_SLICE_BEGIN)
		cv.nslices++;
}

/* ---- slices, with the nesting invariant ---- */

static void begin(struct track *t, uint64_t ts, const char *name,
		  uint64_t flow_in)
{
	struct slice *s;

	if (t->depth == MAXDEPTH)
		return;
	s = &t->stk[t->depth++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->ts = ts;
	s->flow = flow_in;
	s->goid = 0;
	s->emitted = cv.open;
	if (s->emitted)
		emit(t, ts, PF_TYPE_SLICE_BEGIN, s->name, 0, flow_in, 0, NULL,
		     0);
}

/* End t's slices down to depth level (the slice at level included). */
static void end_to(struct track *t, uint64_t ts, int level)
{
	if (level < 0)
		level = 0;
	while (t->depth > level) {
		struct slice *s = &t->stk[--t->depth];

		if (s->emitted)
			emit(t, ts, PF_TYPE_SLICE_END, NULL, 0, 0, 0, NULL, 0);
	}
}

static void instant(struct track *t, uint64_t ts, const char *name,
		    uint64_t flow_out, const char *ann, uint64_t v)
{
	if (cv.open)
		emit(t, ts, PF_TYPE_INSTANT, name, flow_out, 0, 0, ann, v);
}

static void counter(struct track *t, uint64_t ts, int64_t v)
{
	t->has_value = true;
	t->value = v;
	if (cv.open)
		emit(t, ts, PF_TYPE_COUNTER, NULL, 0, 0, v, NULL, 0);
}

/* ---- tracks ---- */

static struct track *p_track(int32_t p)
{
	if (p < 0 || p > 65535)
		return NULL;
	if (p >= cv.nps) {
		int n = p + 8;
		struct track *t = realloc(cv.ps, (size_t)n * sizeof(*t));

		if (!t)
			return NULL;
		memset(t + cv.nps, 0, (size_t)(n - cv.nps) * sizeof(*t));
		cv.ps = t;
		cv.nps = n;
	}
	if (!cv.ps[p].uuid) {
		cv.ps[p].uuid = 0x100000 + (uint64_t)p;
		cv.ps[p].kind = TK_P;
		snprintf(cv.ps[p].name, sizeof(cv.ps[p].name), "P%d", p);
	}
	return &cv.ps[p];
}

static const char *named_names[] = {
	[N_RUNTIME] = "runtime (no P)", [N_GC] = "GC",
	[N_SWEEP] = "GC sweep", [N_STW] = "STW",
	[N_HEAP] = "heap_alloc", [N_GOAL] = "heap_goal",
	[N_PROCS] = "GOMAXPROCS",
};

static struct track *named(enum named_id id)
{
	struct track *t = &cv.named[id];

	if (!t->uuid) {
		t->uuid = 0x10 + (uint64_t)id;
		t->kind = id >= N_HEAP ? TK_COUNTER : TK_NAMED;
		t->unit = id == N_PROCS ? PF_CD_UNIT_COUNT :
					  PF_CD_UNIT_SIZE_BYTES;
		snprintf(t->name, sizeof(t->name), "%s", named_names[id]);
	}
	return t;
}

static struct gst *g_find(uint64_t goid, bool make)
{
	struct gst **pp = &cv.g[goid % GHASH], *g;

	for (g = *pp; g; g = g->next)
		if (g->goid == goid)
			return g;
	if (!make)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->goid = goid;
	g->p = -1;
	g->t.uuid = (1ull << 40) + goid;
	g->t.kind = TK_G;
	snprintf(g->t.name, sizeof(g->t.name), "G%" PRIu64, goid);
	g->next = *pp;
	*pp = g;
	cv.ngs++;
	return g;
}

static void g_free(struct gst *g)
{
	struct gst **pp = &cv.g[g->goid % GHASH];

	while (*pp != g)
		pp = &(*pp)->next;
	*pp = g->next;
	free(g);
}

static void g_named(struct gst *g, uint64_t fn)
{
	const char *s = fn && cv.nsyms ? sym_name(fn) : NULL;

	g->fn = fn;
	if (s)
		snprintf(g->t.name, sizeof(g->t.name), "G%" PRIu64 " %s",
			 g->goid, s);
	else if (fn)
		snprintf(g->t.name, sizeof(g->t.name), "G%" PRIu64 " %#" PRIx64,
			 g->goid, fn);
}

/* Where an event of goroutine goid on p shows: G, else P, else runtime. */
static struct track *where(uint64_t goid, int32_t p)
{
	struct gst *g = goid ? g_find(goid, true) : NULL;
	struct track *t;

	if (g)
		return &g->t;
	t = p_track(p);
	return t ? t : named(N_RUNTIME);
}

static const char *const block_names[GORT_BLOCK_REASON_COUNT] = {
	[GORT_BLOCK_UNKNOWN] = "unknown",
	[GORT_BLOCK_CHAN_SEND] = "chan send",
	[GORT_BLOCK_CHAN_RECV] = "chan receive",
	[GORT_BLOCK_SELECT] = "select",
	[GORT_BLOCK_SELECT_NO_CASES] = "select (no cases)",
	[GORT_BLOCK_NIL_CHAN] = "chan (nil chan)",
	[GORT_BLOCK_SYNC_MUTEX] = "sync.Mutex.Lock",
	[GORT_BLOCK_SYNC_RWMUTEX_R] = "sync.RWMutex.RLock",
	[GORT_BLOCK_SYNC_RWMUTEX_W] = "sync.RWMutex.Lock",
	[GORT_BLOCK_SYNC_COND] = "sync.Cond.Wait",
	[GORT_BLOCK_SYNC_WAITGROUP] = "sync.WaitGroup.Wait",
	[GORT_BLOCK_SLEEP] = "sleep",
	[GORT_BLOCK_NET_IO] = "network",
	[GORT_BLOCK_GC_ASSIST] = "GC assist wait",
};

const char *gort_block_reason_name(uint64_t r)
{
	return r < GORT_BLOCK_REASON_COUNT ? block_names[r] : "unknown";
}

/* ---- the state machine ---- */

/* g leaves its P (and its running slice): level of its P slice ended. */
static void g_off_p(struct gst *g, uint64_t ts)
{
	struct track *pt = p_track(g->p);

	end_to(&g->t, ts, 0);
	/* only its own slice: another may have replaced it (see go_start) */
	if (pt && g->p_level < pt->depth &&
	    pt->stk[g->p_level].goid == g->goid)
		end_to(pt, ts, g->p_level);
	g->p = -1;
}

static void g_runnable(struct gst *g, uint64_t ts)
{
	end_to(&g->t, ts, 0);
	begin(&g->t, ts, "runnable", 0);
}

static void ev_go_start(const struct gort_trace_event *e)
{
	struct gst *g = g_find(e->goid, true);
	struct track *pt = p_track(e->p);
	uint64_t flow = 0;
	if (!g)
		return;
	if (g->p >= 0)
		g_off_p(g, e->ts_ns);
	end_to(&g->t, e->ts_ns, 0);
	if (g->flow && g->flow_gen == cv.gen && cv.open)
		flow = g->flow;
	g->flow = 0;
	begin(&g->t, e->ts_ns, "running", flow);
	if (flow)
		cv.nflows++;
	if (pt) {
		/* one still shown on this P left it unseen (a flight window) */
		if (pt->depth && pt->stk[pt->depth - 1].goid)
			end_to(pt, e->ts_ns, pt->depth - 1);
		g->p = e->p;
		g->p_level = pt->depth;
		begin(pt, e->ts_ns, g->t.name, 0);
		if (pt->depth > g->p_level)
			pt->stk[g->p_level].goid = g->goid;
	}
}

static void ev_go_leave(const struct gort_trace_event *e, const char *state)
{
	struct gst *g = g_find(e->goid, true);
	char name[96];

	if (!g)
		return;
	g_off_p(g, e->ts_ns);
	if (state) {
		begin(&g->t, e->ts_ns, state, 0);
	} else if (e->kind == GORT_EV_GO_BLOCK) {
		snprintf(name, sizeof(name), "blocked: %s",
			 gort_block_reason_name(e->arg[0]));
		begin(&g->t, e->ts_ns, name, 0);
	}
}

static void ev_go_create(const struct gort_trace_event *e)
{
	struct gst *ng = g_find(e->arg[0], true);
	struct track *t = where(e->goid, e->p);
	char name[128];

	if (!ng)
		return;
	g_named(ng, e->arg[1]);
	snprintf(name, sizeof(name), "create %s", ng->t.name);
	instant(t, e->ts_ns, name, 0, "goid", e->arg[0]);
	g_runnable(ng, e->ts_ns);
}

static void ev_go_unblock(const struct gort_trace_event *e)
{
	struct gst *g = g_find(e->arg[0], true);
	struct track *t = where(e->goid, e->p);
	char name[64];
	uint64_t flow;

	if (!g)
		return;
	flow = ++cv.next_flow;
	snprintf(name, sizeof(name), "unblock G%" PRIu64, g->goid);
	instant(t, e->ts_ns, name, cv.open ? flow : 0, "goid", g->goid);
	g->flow = cv.open ? flow : 0;
	g->flow_gen = cv.gen;
	g_runnable(g, e->ts_ns);
}

static void ev_go_end(const struct gort_trace_event *e)
{
	struct gst *g = g_find(e->goid, false);

	if (!g)
		return;
	g_off_p(g, e->ts_ns);
	instant(&g->t, e->ts_ns, "end", 0, NULL, 0);
	/* its track stays in the files already written; its state goes */
	g_free(g);
}

static void nested(uint64_t goid, uint64_t ts, const char *name)
{
	struct gst *g = g_find(goid, true);

	if (g && g->t.depth >= 1)
		begin(&g->t, ts, name, 0);
}

static void unnest(uint64_t goid, uint64_t ts)
{
	struct gst *g = g_find(goid, false);

	if (g && g->t.depth > 1)
		end_to(&g->t, ts, 1);
}

static void ev_proc(const struct gort_trace_event *e, bool start)
{
	struct track *pt = p_track(e->p);
	char name[32];

	if (!pt)
		return;
	end_to(pt, e->ts_ns, 0);
	if (start) {
		snprintf(name, sizeof(name), "M%d", e->m);
		begin(pt, e->ts_ns, name, 0);
	}
}

static void one(const struct gort_trace_event *e)
{
	char name[64];
	struct gst *g;

	switch (e->kind) {
	case GORT_EV_GO_CREATE:
		ev_go_create(e);
		break;
	case GORT_EV_GO_START:
		ev_go_start(e);
		break;
	case GORT_EV_GO_END:
		ev_go_end(e);
		break;
	case GORT_EV_GO_STOP:
		ev_go_leave(e, e->arg[0] == GORT_STOP_PREEMPTED ?
				       "runnable (preempted)" :
				       "runnable");
		break;
	case GORT_EV_GO_BLOCK:
		ev_go_leave(e, NULL);
		break;
	case GORT_EV_GO_UNBLOCK:
		ev_go_unblock(e);
		break;
	case GORT_EV_GO_SYSCALL_BEGIN:
		nested(e->goid, e->ts_ns, "syscall");
		break;
	case GORT_EV_GO_SYSCALL_END:
		unnest(e->goid, e->ts_ns);
		if (e->arg[0]) {
			/* its P was taken: it waits for one */
			g = g_find(e->goid, true);
			if (g)
				ev_go_leave(e, "runnable (no P)");
		}
		break;
	case GORT_EV_PROC_START:
		ev_proc(e, true);
		break;
	case GORT_EV_PROC_STOP:
		ev_proc(e, false);
		break;
	case GORT_EV_PROC_STEAL:
		snprintf(name, sizeof(name), "steal %" PRIu64 " from P%" PRId64,
			 (uint64_t)e->arg[1], (int64_t)e->arg[0]);
		if (p_track(e->p))
			instant(p_track(e->p), e->ts_ns, name, 0, NULL, 0);
		break;
	case GORT_EV_STW_BEGIN:
		end_to(named(N_STW), e->ts_ns, 0);
		begin(named(N_STW), e->ts_ns, "STW", 0);
		break;
	case GORT_EV_STW_END:
		end_to(named(N_STW), e->ts_ns, 0);
		break;
	case GORT_EV_GC_BEGIN:
		snprintf(name, sizeof(name), "GC %" PRIu64,
			 (uint64_t)e->arg[0]);
		end_to(named(N_GC), e->ts_ns, 0);
		begin(named(N_GC), e->ts_ns, name, 0);
		break;
	case GORT_EV_GC_END:
		end_to(named(N_GC), e->ts_ns, 0);
		break;
	case GORT_EV_GC_SWEEP_BEGIN:
		end_to(named(N_SWEEP), e->ts_ns, 0);
		begin(named(N_SWEEP), e->ts_ns, "sweep", 0);
		break;
	case GORT_EV_GC_SWEEP_END:
		end_to(named(N_SWEEP), e->ts_ns, 0);
		break;
	case GORT_EV_GC_MARK_ASSIST_BEGIN:
		nested(e->goid, e->ts_ns, "GC mark assist");
		break;
	case GORT_EV_GC_MARK_ASSIST_END:
		unnest(e->goid, e->ts_ns);
		break;
	case GORT_EV_HEAP_ALLOC:
		counter(named(N_HEAP), e->ts_ns, (int64_t)e->arg[0]);
		break;
	case GORT_EV_HEAP_GOAL:
		counter(named(N_GOAL), e->ts_ns, (int64_t)e->arg[0]);
		break;
	case GORT_EV_PROCS_CHANGE:
		counter(named(N_PROCS), e->ts_ns, (int64_t)e->arg[0]);
		break;
	case GORT_EV_NETPOLL_READY:
		snprintf(name, sizeof(name), "netpoll ready G%" PRIu64,
			 (uint64_t)e->arg[0]);
		instant(where(e->goid, e->p), e->ts_ns, name, 0, NULL, 0);
		break;
	default:
		break;
	}
}

/* ---- windows ---- */

static void for_each_track(void (*fn)(struct track *, uint64_t), uint64_t ts)
{
	struct gst *g;
	int i;

	for (i = 0; i < cv.nps; i++)
		if (cv.ps[i].uuid)
			fn(&cv.ps[i], ts);
	for (i = 0; i < NAMED_MAX; i++)
		if (cv.named[i].uuid)
			fn(&cv.named[i], ts);
	for (i = 0; i < GHASH; i++)
		for (g = cv.g[i]; g; g = g->next)
			fn(&g->t, ts);
}

/* The window opens at ts: begin what is open, set counters. */
static void reopen(struct track *t, uint64_t ts)
{
	int i;

	for (i = 0; i < t->depth; i++) {
		t->stk[i].emitted = true;
		emit(t, ts, PF_TYPE_SLICE_BEGIN, t->stk[i].name, 0, 0, 0,
		     NULL, 0);
	}
	if (t->kind == TK_COUNTER && t->has_value)
		emit(t, ts, PF_TYPE_COUNTER, NULL, 0, 0, t->value, NULL, 0);
}

/* The window closes at ts: end every emitted slice, innermost first. */
static void shut(struct track *t, uint64_t ts)
{
	int i;

	for (i = t->depth; i-- > 0;) {
		if (t->stk[i].emitted)
			emit(t, ts, PF_TYPE_SLICE_END, NULL, 0, 0, 0, NULL, 0);
		t->stk[i].emitted = false;
	}
}

static int open_file(void)
{
	char path[4096];

	if (cv.split)
		snprintf(path, sizeof(path), "%s.%03u", cv.out, cv.files);
	else
		snprintf(path, sizeof(path), "%s", cv.out);
	cv.f = fopen(path, "we");
	if (!cv.f) {
		fprintf(stderr, "gort-trace: %s: %s\n", path, strerror(errno));
		return -1;
	}
	setvbuf(cv.f, NULL, _IOFBF, 1 << 16);
	cv.files++;
	cv.gen++;
	cv.first_packet = true;
	describe(&cv.proc);
	return 0;
}

static int close_file(void)
{
	int err = cv.write_err;

	if (fclose(cv.f) && !err)
		err = errno;
	cv.f = NULL;
	if (err) {
		fprintf(stderr, "gort-trace: %s: %s\n", cv.out, strerror(err));
		return -1;
	}
	return 0;
}

/*
 * Move the windows up to ts: close the ones that end at or before it
 * (opening the next file when splitting), open the one it is in.  Returns
 * 1 when no window is left.
 */
static int advance(uint64_t ts)
{
	while (cv.hi && ts >= cv.hi) {
		/* a window with no event of its own still shows the state */
		if (!cv.open && cv.lo < cv.hi) {
			cv.open = true;
			for_each_track(reopen, cv.lo);
		}
		for_each_track(shut, cv.hi);
		cv.open = false;
		if (!cv.split)
			return 1;
		if (close_file() || open_file())
			return -1;
		cv.lo = cv.hi;
		cv.hi += cv.split;
		if (cv.to && cv.hi > cv.t0 + cv.to)
			cv.hi = cv.t0 + cv.to;
		if (cv.lo >= cv.hi)
			return 1;
	}
	if (!cv.open && ts >= cv.lo) {
		cv.open = true;
		for_each_track(reopen, cv.lo);
	}
	return 0;
}

static int usage_convert(void)
{
	fprintf(stderr,
		"usage: gort-trace convert [--from NS] [--to NS] [--split NS] [--exe FILE] [--stats] IN OUT\n");
	return 2;
}

static bool parse_ns(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && end != s && !*end && *s != '-';
}

int gort_trace_convert(int argc, char **argv)
{
	const char *in = NULL, *exe = NULL;
	struct gort_trace_event e;
	int i, ret = 1, r = 0;
	uint64_t last = 0;

	for (i = 1; i < argc; i++) {
		uint64_t *dst = NULL;

		if (!strcmp(argv[i], "--from"))
			dst = &cv.from;
		else if (!strcmp(argv[i], "--to"))
			dst = &cv.to;
		else if (!strcmp(argv[i], "--split"))
			dst = &cv.split;
		else if (!strcmp(argv[i], "--exe") && i + 1 < argc)
			exe = argv[++i];
		else if (!strcmp(argv[i], "--stats"))
			cv.stats = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return usage_convert();
		else if (!in)
			in = argv[i];
		else if (!cv.out)
			cv.out = argv[i];
		else
			return usage_convert();
		if (dst) {
			if (i + 1 >= argc || !parse_ns(argv[++i], dst)) {
				fprintf(stderr,
					"gort-trace: %s wants nanoseconds since the trace started\n",
					argv[i - (i + 1 >= argc ? 0 : 1)]);
				return 2;
			}
		}
	}
	if (!in || !cv.out)
		return usage_convert();
	if (cv.to && cv.to <= cv.from) {
		fprintf(stderr, "gort-trace: --to must be after --from\n");
		return 2;
	}
	if (exe && load_syms(exe))
		return 1;
	if (tr_open(&cv.rd, in)) {
		fprintf(stderr, "gort-trace: %s\n", cv.rd.err);
		tr_close(&cv.rd);
		return 1;
	}
	if (cv.rd.truncated_at)
		fprintf(stderr,
			"gort-trace: warning: %s is cut off at byte %" PRIu64
			" (a crashed or killed writer?): converting the %" PRIu64
			" complete records before it\n",
			in, cv.rd.truncated_at, cv.rd.nrec);
	cv.t0 = cv.rd.h.start_ns;
	cv.proc.uuid = 1;
	cv.proc.kind = TK_PROCESS;
	snprintf(cv.proc.name, sizeof(cv.proc.name), "gort pid %u",
		 cv.rd.h.pid);
	cv.lo = cv.t0 + cv.from;
	/*
	 * A flight window's threads lost their oldest batches at different
	 * times: before the last of them starts, a goroutine's events may
	 * be half there (an unblock without its start).  The state machine
	 * still runs over that part; the output begins after it.
	 */
	if ((cv.rd.h.flags & GORT_TRACE_F_FLIGHT) && cv.rd.complete_ns > cv.lo)
		cv.lo = cv.rd.complete_ns;
	/* a cut-off file: past its cut thread's last record, half there */
	if (cv.rd.truncated_at && cv.rd.truncated_ns > cv.t0 &&
	    (!cv.to || cv.rd.truncated_ns + 1 < cv.t0 + cv.to))
		cv.to = cv.rd.truncated_ns + 1 - cv.t0;
	/* and a signal dump is complete only up to when it was asked for */
	if ((cv.rd.h.flags & GORT_TRACE_F_FLIGHT) && cv.rd.h.cut_ns > cv.t0 &&
	    (!cv.to || cv.rd.h.cut_ns < cv.t0 + cv.to))
		cv.to = cv.rd.h.cut_ns - cv.t0;
	cv.hi = cv.split ? cv.lo + cv.split : 0;
	if (cv.to && (!cv.hi || cv.hi > cv.t0 + cv.to))
		cv.hi = cv.t0 + cv.to;
	if (open_file())
		goto out;
	while (tr_next(&cv.rd, &e)) {
		r = advance(e.ts_ns);
		if (r)
			break;
		one(&e);
		last = e.ts_ns;
		cv.nev++;
		if (cv.write_err)
			break;
	}
	if (r < 0)
		goto out;
	if (cv.open)
		for_each_track(shut, cv.hi && cv.hi < last ? cv.hi : last);
	if (close_file())
		goto out;
	if (cv.stats)
		fprintf(stderr,
			"gort-trace: %" PRIu64 " records, %" PRIu64
			" batches, %zu streams, %" PRIu64 " goroutines, %"
			PRIu64 " slices, %" PRIu64 " flows, %u files\n",
			cv.rd.nrec, cv.rd.nbatch, cv.rd.ns, cv.ngs,
			cv.nslices, cv.nflows, cv.files);
	ret = 0;
out:
	tr_close(&cv.rd);
	return ret;
}
