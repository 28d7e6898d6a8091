# oneroof - build, test, bench.
#   make            library, guests, tests, bench binary
#   make test       build and run every test (cmocka), summary last
#   make bench      run the default benchmark matrix, write RESULTS.md + plots
#   make test-asan  the suite under ASan+UBSan (build-asan/)
#   make test-tsan  the suite under TSan (build-tsan/)
#   make test-nova-real / bench-nova-real  the NOVA root task on the real
#                   kernel: NOVA_HYPERVISOR=/path/to/hypervisor (QEMU TCG, SVM)
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX  ?= /usr/local
DESTDIR ?=
B       ?= build
CC      ?= cc
NASM    ?= nasm
ROOF_COPY ?= asm
SAN     ?=
VERSION := 0.1.0

GCCINC  := $(shell $(CC) -print-file-name=include)
WARN    := -Wall -Wextra -Werror
INC     := -Iinclude -Istate -Ifastpath -Ifastpath/host
OPT     ?= -O2 -g
CFLAGS_COMMON := -std=c11 $(WARN) $(OPT) -fPIC $(INC) $(SAN)
ifeq ($(ROOF_COPY),c)
CFLAGS_COMMON += -DROOF_COPY_C
endif
ifneq ($(ROOF_CHECKED),)
CFLAGS_COMMON += -DROOF_CHECKED=1
endif
# Hot path: no libc headers, no libc calls (only gcc's own freestanding headers).
CFLAGS_FREE := $(CFLAGS_COMMON) -ffreestanding -nostdinc -isystem $(GCCINC) \
               -fno-stack-protector
CFLAGS_HOST := $(CFLAGS_COMMON) -D_GNU_SOURCE -pthread
LDLIBS_HOST := -pthread -lm

FREE_SRCS := $(wildcard state/*.c) $(wildcard fastpath/*.c) \
             $(wildcard kernels/*/client/*.c)
HOST_SRCS := $(wildcard fastpath/host/*.c) $(wildcard kernels/*/*.c)
ASM_SRCS  := $(wildcard fastpath/asm/*.asm)

FREE_OBJS := $(FREE_SRCS:%.c=$(B)/obj/%.o)
HOST_OBJS := $(HOST_SRCS:%.c=$(B)/obj/%.o)
ASM_OBJS  := $(ASM_SRCS:%.asm=$(B)/obj/%.o)
LIB_OBJS  := $(FREE_OBJS) $(HOST_OBJS) $(ASM_OBJS)

GUEST_SRCS := $(wildcard microbench/guests/*.asm) $(wildcard tests/guests/*.asm)
GUESTS     := $(patsubst %.asm,$(B)/guests/%.bin,$(notdir $(GUEST_SRCS)))

TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
TEST_UTIL := $(wildcard tests/util/*.c)
# Headers only the test programs include (the library's own are tracked by
# its objects' .d files, and every program depends on the library).
TEST_HDRS := $(wildcard tests/util/*.h tests/soak/*.h tests/fuzz/*.h)
BENCH_SRCS := $(wildcard microbench/*.c)

STATIC := $(B)/liboneroof.a
SHARED := $(B)/liboneroof.so
# The model backends are reached through weak references (fastpath/host/
# backends.c), and a weak reference pulls nothing out of an archive: link
# programs with the whole archive so every backend that was built is there.
LINK_STATIC := -Wl,--whole-archive $(STATIC) -Wl,--no-whole-archive

.PHONY: all lib guests tests bench test test-asan test-tsan check-freestanding deps \
        install clean perf fuzz fuzz-smoke soak nova-roottask test-nova-real \
        bench-nova-real
.DEFAULT_GOAL := all

all: lib guests tests $(B)/roof-bench nova-roottask

lib: $(STATIC) $(SHARED)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(filter $<,$(FREE_SRCS)),$(CC) $(CFLAGS_FREE),$(CC) $(CFLAGS_HOST)) -MMD -MP -c $< -o $@

$(B)/obj/%.o: %.asm
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -g -Ox $< -o $@

$(STATIC): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,liboneroof.so.0 $(SAN) -o $@ $^ $(LDLIBS_HOST)

# Guests are flat binaries: nasm -f bin.
guests: $(GUESTS)
$(B)/guests/%.bin: microbench/guests/%.asm
	@mkdir -p $(dir $@)
	$(NASM) -f bin $< -o $@
$(B)/guests/%.bin: tests/guests/%.asm
	@mkdir -p $(dir $@)
	$(NASM) -f bin $< -o $@

tests: $(TEST_BINS) $(B)/tests/list-kernels
$(B)/tests/list-kernels: tests/list_kernels.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_HOST) $< $(LINK_STATIC) $(LDLIBS_HOST) -o $@
$(B)/tests/%: tests/%.c $(TEST_UTIL) $(TEST_HDRS) $(STATIC) $(GUESTS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_HOST) -Itests -Itests/util -Ikernels/kvm -DROOF_GUEST_DIR='"$(abspath $(B))/guests"' \
	    $< $(TEST_UTIL) $(LINK_STATIC) -lcmocka $(LDLIBS_HOST) -o $@

# The bench guests share microbench/guests/bench.inc.
$(patsubst microbench/guests/%.asm,$(B)/guests/%.bin,$(wildcard microbench/guests/*.asm)): \
    microbench/guests/bench.inc

$(B)/roof-bench: $(BENCH_SRCS) $(wildcard microbench/*.h) $(STATIC) $(GUESTS)
	@mkdir -p $(dir $@)
	$(if $(BENCH_SRCS),$(CC) $(CFLAGS_HOST) -Imicrobench \
	    -DROOF_GUEST_DIR='"$(abspath $(B))/guests"' \
	    $(BENCH_SRCS) $(LINK_STATIC) $(LDLIBS_HOST) -o $@,@echo "no bench sources yet")

# The hot path must link with nothing but these from the outside world.
FREE_ALLOWED := memcpy memset memmove memcmp
check-freestanding: $(FREE_OBJS) $(ASM_OBJS)
	@ld -r -o $(B)/hotpath.o $(FREE_OBJS) $(ASM_OBJS)
	@undef=$$(nm -u $(B)/hotpath.o | awk '{print $$2}' | \
	    grep -vxE '$(subst $() $(),|,$(FREE_ALLOWED))' || true); \
	if [ -n "$$undef" ]; then \
	    echo "check-freestanding: hot path needs outside symbols:"; echo "$$undef"; exit 1; \
	else echo "check-freestanding: ok ($(words $(FREE_OBJS) $(ASM_OBJS)) objects, no libc/Linux symbols)"; fi

# ---- the NOVA root task (kernels/nova/roottask/README.md) ---------------------
# The same freestanding files the library builds (state/, fastpath/, the NOVA
# client) and the shared test VMMs, compiled for a static root task on the
# real microhypervisor: no PIC, no SSE (the root task never touches the FPU),
# no libc (its link fails on any outside symbol but the four start.c has).
ROOT_DIR := kernels/nova/roottask
ROOT_B := $(B)/nova-root
ROOT_SRCS := $(filter-out kernels/%,$(FREE_SRCS)) $(wildcard kernels/nova/client/*.c) \
             tests/util/roof_guest.c tests/util/vmm_exits.c tests/util/vmm_x86.c \
             $(wildcard $(ROOT_DIR)/*.c)
ROOT_OBJS := $(ROOT_SRCS:%.c=$(ROOT_B)/obj/%.o) $(ASM_SRCS:%.asm=$(ROOT_B)/obj/%.o) \
             $(ROOT_B)/obj/guests.o
ROOT_CFLAGS := -std=c11 $(WARN) -O2 -g $(INC) -Ikernels/nova/client -Itests/util \
               -I$(ROOT_DIR) -ffreestanding -nostdinc -isystem $(GCCINC) \
               -fno-stack-protector -fno-pic -fno-pie -mgeneral-regs-only \
               -fno-tree-loop-distribute-patterns -fno-asynchronous-unwind-tables \
               $(if $(filter c,$(ROOF_COPY)),-DROOF_COPY_C)
nova-roottask: $(ROOT_B)/roottask-test.elf $(ROOT_B)/roottask-bench.elf
$(ROOT_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ROOT_CFLAGS) -MMD -MP -c $< -o $@
$(ROOT_B)/obj/%.o: %.asm
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -g -Ox $< -o $@
$(ROOT_B)/obj/guests.o: $(ROOT_DIR)/guests.asm $(GUESTS)
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -I$(B)/guests/ $< -o $@
$(ROOT_B)/roottask-%.elf: $(ROOT_OBJS) $(ROOT_DIR)/link.ld
	ld -m elf_x86_64 -static -nostdlib --no-warn-rwx-segments -T $(ROOT_DIR)/link.ld \
	    --defsym rt_mode=rt_mode_$* -o $@ $(ROOT_OBJS)

# Boot the root task on the user's NOVA (NOVA_HYPERVISOR); without it both
# print how to get NOVA and skip (exit 0).
test-nova-real: nova-roottask
	@python3 $(ROOT_DIR)/nova-real.py test --build $(B)
bench-nova-real: nova-roottask
	@python3 $(ROOT_DIR)/nova-real.py bench --build $(B) --results RESULTS.md

# Installs missing Debian packages (as root) so a fresh machine needs nothing else.
deps:
	@bash .ci/deps.sh

test: deps
	@$(MAKE) --no-print-directory all $(if $(SAN),,check-freestanding)
	@bash tests/run-tests.sh $(B)

test-asan:
	$(MAKE) B=build-asan OPT="-O1 -g" SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

test-tsan:
	$(MAKE) B=build-tsan OPT="-O1 -g" SAN="-fsanitize=thread" test

bench: deps
	@$(MAKE) --no-print-directory all
	@bash microbench/run-bench.sh $(B)

perf: deps
	@$(MAKE) --no-print-directory all
	@bash microbench/run-perf.sh $(B)

# ---- reliability: fuzz-smoke, fuzz, soak ------------------------------------
# Each writes its figures into RESULTS.md (reliability section) through
# tests/soak/results.py; see tests/fuzz/README.md and tests/soak/README.md.
.PHONY: fuzz-build
# 10^7 random (mask, state) cases: nasm vs C masked copy, 0 mismatches.
FUZZ_SMOKE_CASES ?= 10000000
fuzz-smoke: $(B)/fuzz_smoke_copy
	@$(B)/fuzz_smoke_copy $(FUZZ_SMOKE_CASES) > $(B)/fuzz-smoke.txt; rc=$$?; \
	    cat $(B)/fuzz-smoke.txt; \
	    python3 tests/soak/results.py RESULTS.md copy $(B)/fuzz-smoke.txt && exit $$rc
$(B)/fuzz_smoke_copy: tests/fuzz_smoke_copy.c $(wildcard tests/fuzz/*.h) $(STATIC)
	$(CC) $(CFLAGS_HOST) $< $(LINK_STATIC) $(LDLIBS_HOST) -o $@

# libFuzzer targets (clang, ASan+UBSan), FUZZ_SECONDS each: the copy
# routines, and the exit decoding of every backend (tests/fuzz/run.sh).
FUZZ_SECONDS ?= 60
FUZZ_B := build-fuzz
fuzz: deps
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=clang OPT="-O1 -g" \
	    WARN="$(WARN) -Wno-gnu-variable-sized-type-not-at-end" \
	    SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
	    fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_B) $(FUZZ_SECONDS)
fuzz-build: $(B)/fuzz/fuzz_copy $(B)/fuzz/fuzz_exit $(B)/fuzz/write_seeds \
    $(B)/tests/list-kernels
$(B)/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_HOST) $(if $(filter fuzz_%,$*),-fsanitize=fuzzer) $< \
	    $(LINK_STATIC) $(LDLIBS_HOST) -o $@

# Soak: every backend SOAK_EXITS exits, kvm SOAK_EXITS_KVM (tests/soak/run.sh).
SOAK_EXITS ?= 1000000
SOAK_EXITS_KVM ?= 10000000
soak: deps
	@$(MAKE) --no-print-directory $(B)/soak/roof-soak
	@bash tests/soak/run.sh $(B) $(SOAK_EXITS) $(SOAK_EXITS_KVM)
$(B)/soak/roof-soak: tests/soak/roof_soak.c $(TEST_HDRS) $(TEST_UTIL) \
    $(STATIC) $(GUESTS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_HOST) -Itests -Itests/util -Ikernels/kvm \
	    -DROOF_GUEST_DIR='"$(abspath $(B))/guests"' \
	    $< $(TEST_UTIL) $(LINK_STATIC) -lcmocka $(LDLIBS_HOST) -o $@

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/oneroof \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/liboneroof.so.0
	ln -sf liboneroof.so.0 $(DESTDIR)$(PREFIX)/lib/liboneroof.so
	install -m 644 include/oneroof.h state/roof_state.h $(DESTDIR)$(PREFIX)/include/oneroof/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' oneroof.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/oneroof.pc

clean:
	rm -rf build build-asan build-tsan build-c build-fuzz

-include $(LIB_OBJS:.o=.d) $(ROOT_OBJS:.o=.d)
