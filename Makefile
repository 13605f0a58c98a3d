# SPDX-License-Identifier: MIT
#
# gort's build.  One Makefile, no configure step: the toolchain and the
# sanitizer are chosen by variables, and every build variant lives in its own
# directory so that they never mix objects:
#
#   make                      native build in build/
#   make B=build/asan SAN=1   ASan + UBSan build of the library and the tests
#   make B=build/tsan SAN=tsan
#                             TSan build
#   make B=build/arm64 CROSS=aarch64-linux-gnu-
#                             static AArch64 build, run under qemu-aarch64-static
#   make B=build/noprobes PROBES=0 bench-bin
#                             no USDT probes: the baseline their cost is
#                             measured against (Documentation/probes.md)
#
# Targets: all (library, gort.pc, tests, bench, examples), check (every
# suite in every variant, ending with "N passed, N failed, N skipped"), run
# (set-up, build, main demo), bench (build/bench/gort-bench and one metric
# line per workload), install, clean, kmod (gort.ko for KARCH=x86_64 or
# arm64 in build/kmod/<arch>/; see kmod/dev.c), and kmod-guest and
# net-guest (the static programs the QEMU guest tests run).
#
# Rejected alternatives: autotools/CMake (nothing here needs a probe that a
# compiler flag cannot answer; liburing's plain Makefiles are the model) and
# recursive per-directory Makefiles (one dependency graph is faster and
# cannot go stale between directories).

B       ?= build
CROSS   ?=
SAN     ?=
PROBES  ?= 1
PREFIX  ?= /usr/local

CC      := $(CROSS)gcc
AR      := $(CROSS)ar
MACHINE := $(shell $(CC) -dumpmachine)
ifneq ($(findstring aarch64,$(MACHINE)),)
ARCH    := arm64
else ifneq ($(findstring x86_64,$(MACHINE)),)
ARCH    := x86_64
else
$(error gort supports x86_64 and aarch64, not $(MACHINE))
endif

CFLAGS_BASE := -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror=implicit \
	-fno-omit-frame-pointer -D_GNU_SOURCE -pthread
LIB_CFLAGS  := $(CFLAGS_BASE) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
	-Iinclude -Ilib -Iarch/$(ARCH)
LDLIBS      := -luring -pthread -ldl
TEST_LDFLAGS :=
ifeq ($(SAN),1)
SANFLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(SAN),tsan)
SANFLAGS    := -fsanitize=thread
endif
LIB_CFLAGS  += $(SANFLAGS)
ifeq ($(PROBES),0)
LIB_CFLAGS  += -DGORT_NO_PROBES
else ifneq ($(PROBES),1)
$(error PROBES must be 0 or 1, not $(PROBES))
endif
TEST_LDFLAGS += $(SANFLAGS)
ifeq ($(ARCH),arm64)
ifneq ($(CROSS),)
TEST_LDFLAGS += -static -Lbuild/deps/arm64/usr/lib/aarch64-linux-gnu
LIB_CFLAGS  += -Ibuild/deps/arm64/usr/include
LDLIBS      += -Lbuild/deps/arm64/usr/lib/aarch64-linux-gnu
endif
endif

# <sys/sdt.h> (USDT probes) is architecture-neutral, but Debian installs it
# under the host's multiarch directory, where a cross compiler does not
# look: a cross build takes a copy of the host's into its build directory.
# Cross builds run under qemu-user in make check, which pays memory and
# time for every reserved page of address space: their heap reserves
# 4 GiB instead of 64 GiB.
ifneq ($(CROSS),)
LIB_CFLAGS += -DGC_HEAP_RESERVE=4294967296UL
endif

ifneq ($(CROSS),)
SDT_DIR  := $(B)/deps/sdt
SDT_HOST := $(dir $(shell printf '\043include <sys/sdt.h>\n' | \
		gcc -xc -M - 2>/dev/null | grep -o '[^ ]*/sys/sdt\.h'))
SDT_DEP  := $(SDT_DIR)/sys/sdt.h
LIB_CFLAGS += -idirafter $(SDT_DIR)
endif

LIB_SRCS := $(sort $(wildcard lib/*.c lib/*/*.c))
ASM_SRCS := $(sort $(wildcard arch/$(ARCH)/*.S))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o) $(ASM_SRCS:%.S=$(B)/obj/%.o)
HDRS     := $(wildcard include/*.h lib/*.h lib/*/*.h arch/$(ARCH)/*.h)

LIBA  := $(B)/lib/libgort.a
LIBSO := $(B)/lib/libgort.so

# selftests/<subsystem>/<name>.c is one kselftest program; selftests/lib/*.c
# and selftests/<subsystem>/$(ARCH)/*.S are linked into every program.
KSFT_INC   := build/deps/kselftest
TEST_DIRS  := $(sort $(dir $(wildcard selftests/*/*.c)))
TEST_DIRS  := $(filter-out selftests/lib/,$(TEST_DIRS))
TEST_SRCS  := $(foreach d,$(TEST_DIRS),$(wildcard $(d)*.c))
TEST_BINS  := $(TEST_SRCS:%.c=$(B)/%)
TLIB_SRCS  := $(wildcard selftests/lib/*.c)
TEST_CFLAGS := $(CFLAGS_BASE) -Iinclude -Iselftests/lib -I$(KSFT_INC) \
	-Wno-missing-prototypes -Wno-shadow $(SANFLAGS)

BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BIN  := $(B)/bench/gort-bench
EXAMPLES   := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))

.PHONY: all lib tests bench-bin examples tools check run bench install clean deps \
	kmod kmod-guest net-guest
.DELETE_ON_ERROR:

all: lib $(B)/gort.pc tests bench-bin examples tools

lib: $(LIBA) $(LIBSO)

deps:
	@scripts/deps.sh build

$(B)/obj/%.o: %.c $(HDRS) | $(SDT_DEP)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(SDT_DIR)/sys/sdt.h:
	@if [ ! -f "$(SDT_HOST)sdt.h" ]; then \
		echo "no host <sys/sdt.h>: run scripts/deps.sh" >&2; exit 1; fi
	@mkdir -p $(dir $@)
	cp $(SDT_HOST)sdt.h $(SDT_HOST)sdt-config.h $(dir $@)

$(B)/obj/%.o: %.S $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(LIBSO): $(LIB_OBJS) lib/libgort.map
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -shared -Wl,--version-script=lib/libgort.map \
		-Wl,-soname,libgort.so.0 -o $@ $(LIB_OBJS) $(LDLIBS)

$(B)/gort.pc: gort.pc.in
	@mkdir -p $(dir $@)
	sed 's|@PREFIX@|$(PREFIX)|' $< > $@

tests: $(TEST_BINS)

$(KSFT_INC)/kselftest_harness.h:
	scripts/deps.sh build

$(B)/selftests/%: selftests/%.c $(LIBA) $(KSFT_INC)/kselftest_harness.h \
		$(wildcard selftests/lib/*.h) $(TLIB_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(TEST_XCFLAGS) -o $@ $< $(TLIB_SRCS) \
		$(wildcard $(dir $<)$(ARCH)/*.S) \
		$(TEST_LDFLAGS) $(LIBA) $(TEST_XLIBS) $(LDLIBS) -lm

# The trace suite looks at the runtime's tracing internals (lib/trace.h)
# and at the source tree and the shared library: the documents and the
# notes it checks against the probe table.
TRACE_TESTS := $(filter $(B)/selftests/trace/%,$(TEST_BINS))
$(TRACE_TESTS): TEST_XCFLAGS += -Ilib -Iarch/$(ARCH) \
	$(if $(SDT_DIR),-idirafter $(SDT_DIR)) -DGORT_SRCDIR='"$(CURDIR)"' \
	-DGORT_LIBSO='"$(abspath $(LIBSO))"'
$(TRACE_TESTS): $(HDRS) $(LIBSO) $(wildcard selftests/trace/*.h) | $(SDT_DEP)
# selftests/trace/tools runs the native build's tools, whatever this build is
$(B)/selftests/trace/tools: TEST_XCFLAGS += -DGORT_TOOLS='"$(abspath build/tools)"' \
	$(if $(BPF_WHY),-DGORT_NO_BPF='"$(BPF_WHY)"')

# The runtime lock's own test takes lib/sched/lock.c's internal contract.
$(B)/selftests/sched/rtlock: TEST_XCFLAGS += -Ilib -Iarch/$(ARCH)

# The gc suite drives the allocator through its internal contract
# (lib/gc/gc.h) and regenerates the size-class table from the source tree.
GC_TESTS := $(filter $(B)/selftests/gc/%,$(TEST_BINS))
$(GC_TESTS): TEST_XCFLAGS += -Ilib -Iarch/$(ARCH) -DGORT_SRCDIR='"$(CURDIR)"'
$(GC_TESTS): $(HDRS)

# BPF programs (tools/bpf/*.bpf.c) and their skeletons, as liburing's
# tests build theirs: clang -target bpf, bpftool gen object (links and
# strips DWARF), bpftool gen skeleton, against a vmlinux.h dumped from the
# running kernel's BTF.  Only native builds: there is no libbpf for a
# cross target here.  Without them selftests/trace/bpf is built to SKIP,
# saying why.
BPFTOOL ?= $(firstword $(shell command -v bpftool) $(wildcard /usr/sbin/bpftool))
CLANG   ?= clang
BPF_DIR := $(B)/tools/bpf
ifneq ($(CROSS),)
BPF_WHY := a cross build: no libbpf for $(ARCH) here
else ifeq ($(wildcard /sys/kernel/btf/vmlinux),)
BPF_WHY := no /sys/kernel/btf/vmlinux on the build machine
else ifeq ($(BPFTOOL),)
BPF_WHY := no bpftool on the build machine
else ifeq ($(shell command -v $(CLANG)),)
BPF_WHY := no clang on the build machine
else ifeq ($(wildcard /usr/include/bpf/usdt.bpf.h),)
BPF_WHY := no libbpf-dev on the build machine
endif
BPF_TARGET := $(if $(filter arm64,$(ARCH)),arm64,x86)

.PRECIOUS: $(BPF_DIR)/%.bpf.o $(BPF_DIR)/%.tmp.bpf.o

$(BPF_DIR)/vmlinux.h:
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BPF_DIR)/%.tmp.bpf.o: tools/bpf/%.bpf.c $(BPF_DIR)/vmlinux.h \
		include/uapi/gort_trace.h lib/trace_probes.h
	$(CLANG) -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(BPF_TARGET) \
		-I$(BPF_DIR) -Iinclude -Ilib \
		-I/usr/include/$(shell $(CC) -print-multiarch) -c $< -o $@

$(BPF_DIR)/%.bpf.o: $(BPF_DIR)/%.tmp.bpf.o
	$(BPFTOOL) gen object $@ $<

$(BPF_DIR)/%.skel.h: $(BPF_DIR)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@

ifeq ($(BPF_WHY),)
$(B)/selftests/trace/bpf: TEST_XCFLAGS += -DGORT_HAVE_BPF -I$(BPF_DIR)
$(B)/selftests/trace/bpf: TEST_XLIBS += -lbpf -lelf -lz
$(B)/selftests/trace/bpf: $(BPF_DIR)/gort_count.skel.h
else
$(B)/selftests/trace/bpf: TEST_XCFLAGS += -DGORT_NO_BPF='"$(BPF_WHY)"'
endif

# The tools (Documentation/tools.md): gort-trace (convert, record) and
# gort-top, for this machine only.  They are not built for a cross or a
# sanitizer build: they run on the host, and the selftests use the native
# build's (build/tools), skipping when it is not there.  Without the BPF
# toolchain they are built without record and gort-top says why.
TOOLS_DIR   := $(B)/tools
TOOL_CFLAGS := $(CFLAGS_BASE) -Iinclude -Ilib -Itools -I$(BPF_DIR)
TOOL_COMMON := tools/trace_read.c tools/tool_bpf.c
TRACE_SRCS  := tools/gort-trace.c tools/convert.c tools/record.c $(TOOL_COMMON)
TOP_SRCS    := tools/gort-top.c $(TOOL_COMMON)
ifeq ($(BPF_WHY),)
TOOL_LIBS   := -lbpf -lelf -lz
TRACE_SKEL  := $(BPF_DIR)/gort_record.skel.h
TOP_SKEL    := $(BPF_DIR)/gort_top.skel.h
else
TOOL_CFLAGS += -DGORT_NO_BPF='"$(BPF_WHY)"'
endif
ifeq ($(CROSS)$(SAN),)
TOOLS := $(TOOLS_DIR)/gort-trace $(TOOLS_DIR)/gort-top
endif

tools: $(TOOLS)
# (here, not beside the suite's other rules: a prerequisite list is
# expanded where it is read, and TOOLS is empty before this point)
$(B)/selftests/trace/tools: $(TOOLS)

$(TOOLS_DIR)/gort-trace: $(TRACE_SRCS) $(wildcard tools/*.h) \
		include/uapi/gort_trace.h lib/trace_probes.h $(TRACE_SKEL)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $(TRACE_SRCS) $(TOOL_LIBS)

$(TOOLS_DIR)/gort-top: $(TOP_SRCS) $(wildcard tools/*.h) \
		include/uapi/gort_trace.h lib/trace_probes.h $(TOP_SKEL)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -o $@ $(TOP_SRCS) $(TOOL_LIBS)

bench-bin: $(BENCH_BIN)

$(BENCH_BIN): $(BENCH_SRCS) $(LIBA) $(wildcard bench/*.h) examples/httpd.c \
		examples/echo.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Iinclude $(SANFLAGS) -o $@ $(BENCH_SRCS) \
		$(TEST_LDFLAGS) $(LIBA) $(LDLIBS) -lm

examples: $(EXAMPLES)

$(B)/examples/%: examples/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Iinclude $(SANFLAGS) -o $@ $< \
		$(TEST_LDFLAGS) $(LIBA) $(LDLIBS) -lm

# gort.ko (kmod/) for KARCH (x86_64 or arm64, default: this machine's),
# built by Kbuild against Debian's headers for the kernel the module tests
# boot: the amd64 headers package, and the arm64 headers that
# scripts/deps.sh unpacks.  Each architecture builds in its own copy of the
# sources, because Kbuild puts its objects next to them.
KVER          ?= $(shell scripts/kver.sh 2>/dev/null)
KARCH         ?= $(ARCH)
KDIR_x86_64   ?= /usr/src/linux-headers-$(KVER)-amd64
KDIR_arm64    ?= $(abspath build/deps/arm64-kernel/headers/usr/src/linux-headers-$(KVER)-arm64)
KCROSS_arm64  := CROSS_COMPILE=aarch64-linux-gnu-
KMOD_SRCS     := Kbuild kmod/Kbuild $(wildcard kmod/*.[ch]) \
	include/uapi/gort_trace.h include/uapi/gort_kmod.h

kmod: build/kmod/$(KARCH)/gort.ko

build/kmod/%/gort.ko: $(KMOD_SRCS)
	@test -f "$(KDIR_$*)/Makefile" || { \
		echo "no kernel headers in '$(KDIR_$*)': run scripts/deps.sh" >&2; \
		exit 1; }
	rm -rf build/kmod/$*/src
	mkdir -p build/kmod/$*/src/kmod build/kmod/$*/src/include/uapi
	cp -p Kbuild build/kmod/$*/src/
	cp -p kmod/Kbuild $(wildcard kmod/*.[ch]) build/kmod/$*/src/kmod/
	cp -p include/uapi/gort_trace.h include/uapi/gort_kmod.h \
		build/kmod/$*/src/include/uapi/
	$(MAKE) -C $(KDIR_$*) M=$(abspath build/kmod/$*/src) $(KCROSS_$*) \
		modules
	cp build/kmod/$*/src/kmod/gort.ko $@

# The static programs the module tests run inside the QEMU guests
# (selftests/kmod/guest/), for this build's architecture.
KMOD_GUEST := $(B)/kmod-guest/workload $(B)/kmod-guest/uapi

kmod-guest: $(KMOD_GUEST)

$(B)/kmod-guest/workload: selftests/kmod/guest/workload.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Iinclude -static -o $@ $< $(LIBA) $(LDLIBS)

$(B)/kmod-guest/uapi: selftests/kmod/guest/uapi.c lib/trace_kmod.h \
		include/uapi/gort_kmod.h include/uapi/gort_trace.h \
		$(KSFT_INC)/kselftest_harness.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -static -o $@ $< -pthread

# The io_uring guest's own probe (selftests/net-guest/guest/), static, run
# in the arm64 QEMU guest before the network suite; not one of TEST_BINS,
# since qemu-user, which runs those, has no io_uring.
NET_GUEST := $(B)/net-guest/probe

net-guest: $(NET_GUEST)

$(B)/net-guest/probe: selftests/net-guest/guest/probe.c $(LIBA) \
		$(KSFT_INC)/kselftest_harness.h $(wildcard selftests/lib/*.h) \
		$(TLIB_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -static -o $@ $< $(TLIB_SRCS) $(TEST_LDFLAGS) \
		$(LIBA) $(LDLIBS) -lm

# check: every suite natively, under ASan+UBSan, under TSan, and as AArch64
# code under qemu-aarch64-static; then gort.ko in x86_64 and arm64 QEMU
# guests booting Debian's kernels, and the network suite on io_uring in an
# arm64 guest (qemu-user has no io_uring); run_tests keeps a tally and
# prints the closing line.
TALLY := build/check.tally
check: deps
	$(MAKE) all
	$(MAKE) B=build/asan SAN=1 tests
	$(MAKE) B=build/tsan SAN=tsan tests
	$(MAKE) B=build/arm64 CROSS=aarch64-linux-gnu- tests
	$(MAKE) kmod KARCH=x86_64
	$(MAKE) kmod KARCH=arm64
	$(MAKE) kmod-guest
	$(MAKE) B=build/arm64 CROSS=aarch64-linux-gnu- kmod-guest net-guest
	@rm -f $(TALLY)
	@selftests/run_tests --tally $(TALLY) --label x86_64 \
		$(filter build/selftests/%,$(TEST_BINS:$(B)/%=build/%))
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 selftests/run_tests --tally $(TALLY) --label asan --sanitizer \
		$(TEST_BINS:$(B)/%=build/asan/%)
	@TSAN_OPTIONS=halt_on_error=0 \
	 GORT_TEST_SCALE=0.1 selftests/run_tests --tally $(TALLY) --label tsan --sanitizer \
		--timeout-scale 2 $(TEST_BINS:$(B)/%=build/tsan/%)
	@GORT_TEST_SCALE=0.1 selftests/run_tests --tally $(TALLY) --label arm64 \
		--wrapper qemu-aarch64-static --timeout-scale 4 \
		$(TEST_BINS:$(B)/%=build/arm64/%)
	@selftests/run_tests --tally $(TALLY) --label kmod --timeout 200 \
		selftests/kmod/qemu-x86_64.sh selftests/kmod/qemu-arm64.sh
	@selftests/run_tests --tally $(TALLY) --label arm64-guest --timeout 210 \
		selftests/net-guest/qemu-arm64.sh
	@selftests/run_tests --summary $(TALLY)

run: deps
	$(MAKE) all
	scripts/run-demo.sh $(B)

bench: deps
	$(MAKE) bench-bin
	@for w in spawn pingpong ring chanmpmc select mutex timers idle \
		ctxswitch; do \
		for p in 1 2; do GORT_MAXPROCS=$$p $(BENCH_BIN) $$w || exit 1; \
		done; done
	GORT_MAXPROCS=2 $(BENCH_BIN) gc -q
	GORT_MAXPROCS=2 $(BENCH_BIN) gcbench

install: lib $(B)/gort.pc
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/gort.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/libgort.so.0
	ln -sf libgort.so.0 $(DESTDIR)$(PREFIX)/lib/libgort.so
	install -m 644 $(B)/gort.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

clean:
	rm -rf build
