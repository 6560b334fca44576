# dispatch-proxy -- see README.md. `make` builds, `make run` runs, `make test` tests.

CC      ?= cc
PYTHON  ?= /usr/bin/python3
BUILD   ?= build
VERSION := 0.1.0

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -DDP_VERSION=\"$(VERSION)\" $(WARN) -MMD -MP
LDLIBS  += -lpthread

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer for everything built.
ifeq ($(SAN),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
# Reports from the processes the integration suite starts go to files here, so a report
# from a proxy whose test still passed (a leak at exit, say) fails `make integration`.
SAN_LOGS := $(CURDIR)/build-san/san-logs
SAN_ENV  := ASAN_OPTIONS=log_path=$(SAN_LOGS)/asan UBSAN_OPTIONS=log_path=$(SAN_LOGS)/ubsan:print_stacktrace=1
endif

# NOBIND=1: a deliberately broken build that only binds the source address (never the
# device). The namespace suite must fail against it; see tests/integration.
ifeq ($(NOBIND),1)
BUILD   := build-nobind
CFLAGS  += -DDP_DISABLE_BINDTODEVICE
endif

# STATIC=1 (make static): a fully static Linux binary linked against musl (musl-gcc from
# musl-tools) that runs on any distribution. musl-gcc sees only musl's headers, so the
# kernel's (linux/, asm/, asm-generic/: netlink) and the BSD list macros (sys/queue.h,
# macros only, from libc6-dev) are linked into the build tree.
ifeq ($(STATIC),1)
BUILD    := build-static
CC       := musl-gcc
LDFLAGS  += -static
KINC     := $(BUILD)/kernel-include
CFLAGS   += -isystem $(KINC)
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)
endif

# The layers (see README "Source layout"): portable code in src/{core,proto,net,front,admin},
# the platform seam in src/os/ with one folder per platform family. The build picks the
# platform folders; core code never names an OS.
PORTABLE_DIRS := src/core src/proto src/net src/front src/admin
# PORTABLE=1: the build a POSIX system without Linux's extras gets (macOS, the BSDs):
# poll instead of epoll, no splice, no netlink, fcntl instead of accept4. On Linux it
# proves that those paths work.
# WIN=64 / WIN=32 (make windows, make windows32): dispatch-proxy.exe cross-built with
# mingw-w64 (posix threads: winpthreads, linked statically like everything else, so the
# .exe needs only DLLs every Windows has). Windows 10 API level; the loop polls with
# WSAPoll. mingw has no <sys/queue.h>: the BSD list macros (macros only, libc6-dev) are
# linked into the build tree, as for the musl build.
ifeq ($(PORTABLE),1)
BUILD    := build-portable
OS_DIRS  := src/os/posix src/os/portable
OS_EXTRA := src/os/loop_poll.c
else ifneq ($(WIN),)
BUILD    := build-win$(WIN)
CC       := $(if $(filter 32,$(WIN)),i686,x86_64)-w64-mingw32-gcc-posix
EXE      := .exe
COMPAT   := $(BUILD)/compat
# _GNU_SOURCE selects mingw's C99 printf (%zu, %lld), but gcc checks format(printf)
# against the msvcrt's: formats are checked by the Linux builds instead.
CFLAGS   += -D_WIN32_WINNT=0x0A00 -D_POSIX_THREAD_SAFE_FUNCTIONS=200112L -isystem $(COMPAT) \
            -Wno-format
LDFLAGS  += -static
LDLIBS   += -lws2_32 -liphlpapi -lbcrypt
OS_DIRS  := src/os/win
OS_EXTRA := src/os/loop_poll.c
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)
else
OS_DIRS  := src/os/posix src/os/linux
OS_EXTRA :=
endif
INCLUDES := $(addprefix -iquote ,$(PORTABLE_DIRS) src/os $(OS_DIRS))
CFLAGS   += $(INCLUDES)

SRCS     := $(wildcard $(addsuffix /*.c,$(PORTABLE_DIRS) $(OS_DIRS))) $(OS_EXTRA) src/main.c
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(filter-out src/main.c,$(SRCS)))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%$(EXE),$(UNIT_SRC))

BIN := dispatch-proxy

.PHONY: all run test unit integration deps clean format check-format fuzz bench valgrind lint \
        static static-test install uninstall portable portable-test windows windows32 \
        windows-test windows-unit-bins

all: $(BIN)

$(BUILD)/dispatch-proxy$(EXE): $(BUILD)/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN): $(BUILD)/dispatch-proxy
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/%.o: src/%.c | $(BUILD) $(KINC) $(COMPAT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%$(EXE): tests/unit/%.c $(LIB_OBJS) | $(BUILD) $(COMPAT)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

$(BUILD):
	@mkdir -p $(BUILD)

ifeq ($(STATIC),1)
$(KINC):
	@mkdir -p $@
	ln -sfn /usr/include/linux $@/linux
	ln -sfn /usr/include/asm-generic $@/asm-generic
	ln -sfn /usr/include/$(MULTIARCH)/asm $@/asm
	mkdir -p $@/sys && ln -sfn /usr/include/$(MULTIARCH)/sys/queue.h $@/sys/queue.h
endif

ifneq ($(WIN),)
$(COMPAT):
	@mkdir -p $@/sys
	ln -sfn /usr/include/$(MULTIARCH)/sys/queue.h $@/sys/queue.h
endif

# make windows: build-win64/dispatch-proxy.exe (x86_64); make windows32: build-win32/ (i686,
# built but not tested here: Debian's wine runs 64-bit programs only without wine32).
# make windows-test runs the unit tests (.exe) and tests/windows under wine in a wine
# prefix of its own (build-win64/wineprefix, created on first use).
WINE_ENV = WINEPREFIX=$(abspath build-win64/wineprefix) WINEARCH=win64 WINEDEBUG=-all

windows:
	@command -v x86_64-w64-mingw32-gcc-posix >/dev/null || { echo "make windows: mingw-w64 missing (apt-get install mingw-w64)"; exit 1; }
	@$(MAKE) --no-print-directory WIN=64 build-win64/dispatch-proxy.exe

windows32:
	@command -v i686-w64-mingw32-gcc-posix >/dev/null || { echo "make windows32: mingw-w64 missing (apt-get install mingw-w64)"; exit 1; }
	@$(MAKE) --no-print-directory WIN=32 build-win32/dispatch-proxy.exe

windows-test: windows
	@$(MAKE) --no-print-directory WIN=64 windows-unit-bins
	@mkdir -p build-win64/wineprefix
	@$(WINE_ENV) UNIT_RUNNER=wine sh scripts/run-unit.sh $(patsubst tests/unit/%.c,build-win64/tests/%.exe,$(UNIT_SRC))
	@MAKEFLAGS= $(WINE_ENV) DP_EXE=$(abspath build-win64/dispatch-proxy.exe) $(PYTHON) -m pytest -q tests/windows

windows-unit-bins: $(UNIT_BIN)

# make static: build-static/dispatch-proxy (see STATIC above); make static-test runs the
# loopback and reload suites against it.
static:
	@command -v musl-gcc >/dev/null || { echo "make static: musl-gcc missing (apt-get install musl-tools)"; exit 1; }
	@$(MAKE) --no-print-directory STATIC=1 build-static/dispatch-proxy
	@file build-static/dispatch-proxy 2>/dev/null || true

static-test: static
	@MAKEFLAGS= DP_BIN=$(abspath build-static/dispatch-proxy) $(PYTHON) -m pytest -q \
		tests/integration/test_loopback.py tests/integration/test_reload.py

# make portable: build-portable/dispatch-proxy, the POSIX build a system without Linux's
# extras gets (see PORTABLE above); make portable-test runs its unit tests and the
# loopback and protocol suites against it.
portable:
	@$(MAKE) --no-print-directory PORTABLE=1 build-portable/dispatch-proxy

portable-test: portable
	@$(MAKE) --no-print-directory PORTABLE=1 unit
	@MAKEFLAGS= DP_BIN=$(abspath build-portable/dispatch-proxy) $(PYTHON) -m pytest -q \
		tests/integration/test_loopback.py tests/integration/test_protocols.py

# make install: the binary, the man page, the example config and the systemd unit under
# DESTDIR/PREFIX (PREFIX=/usr/local; the unit goes to $(UNITDIR), the example config to
# $(SYSCONFDIR)/dispatch-proxy/dispatch-proxy.conf, never over an existing one).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/dispatch-proxy
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system

install: $(BUILD)/dispatch-proxy
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/dispatch-proxy
	install -m 755 $(BUILD)/dispatch-proxy $(DESTDIR)$(BINDIR)/dispatch-proxy
	install -m 644 docs/dispatch-proxy.1 $(DESTDIR)$(MANDIR)/man1/dispatch-proxy.1
	install -m 644 docs/dispatch-proxy.conf $(DESTDIR)$(DOCDIR)/dispatch-proxy.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/dispatch-proxy/dispatch-proxy.conf ] || \
		install -m 644 docs/dispatch-proxy.conf $(DESTDIR)$(SYSCONFDIR)/dispatch-proxy/dispatch-proxy.conf
	sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/dispatch-proxy.service.in \
		> $(DESTDIR)$(UNITDIR)/dispatch-proxy.service
	chmod 644 $(DESTDIR)$(UNITDIR)/dispatch-proxy.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dispatch-proxy $(DESTDIR)$(MANDIR)/man1/dispatch-proxy.1 \
		$(DESTDIR)$(DOCDIR)/dispatch-proxy.conf.example $(DESTDIR)$(UNITDIR)/dispatch-proxy.service

# Builds and runs the proxy on the default: every interface with a default route.
run:
	@sh scripts/ensure-deps.sh build
	@$(MAKE) --no-print-directory $(BIN)
	./$(BIN) $(ARGS)

deps:
	@sh scripts/ensure-deps.sh

unit: $(UNIT_BIN)
	@sh scripts/run-unit.sh $(UNIT_BIN)

# MAKEFLAGS is cleared: the suite runs make itself (the NOBIND build), which must not
# inherit SAN=1 or this make's jobserver.
integration: $(BUILD)/dispatch-proxy
ifeq ($(SAN),1)
	@rm -rf $(SAN_LOGS) && mkdir -p -m 1777 $(SAN_LOGS)
endif
	@MAKEFLAGS= $(SAN_ENV) DP_BIN=$(abspath $(BUILD)/dispatch-proxy) $(PYTHON) -m pytest -q tests/integration
ifeq ($(SAN),1)
	@if [ -n "$$(ls -A $(SAN_LOGS))" ]; then echo "sanitizer reports:"; cat $(SAN_LOGS)/*; exit 1; fi
endif

# make test: every check CI runs, in this order: banned calls and formatting, unit tests,
# short fuzzing of every parser (TEST_FUZZ_SECONDS each), the valgrind run, the
# integration suite, the loopback and reload suites against the static musl binary, the
# portable POSIX build (poll, no splice, no netlink) through its unit, loopback and
# protocol suites, the Windows build (unit tests and tests/windows under wine), then unit
# and integration again under ASan+UBSan.
# Quicker loops while working: make unit, make integration.
TEST_FUZZ_SECONDS ?= 30

test: deps
	@$(MAKE) --no-print-directory lint check-format
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory static-test
	@$(MAKE) --no-print-directory portable-test
	@$(MAKE) --no-print-directory windows-test
	@$(MAKE) --no-print-directory SAN=1 unit integration

# Unsafe libc calls have no place here (curl's rule): bounded or reentrant versions only.
lint:
	@if grep -nE '\b(strcpy|strcat|sprintf|vsprintf|atoi|atol|gets|gethostbyname|inet_ntoa)[[:space:]]*\(' \
		$(SRC_C_FILES); then echo "lint: banned call above"; exit 1; fi
	@echo "lint: no banned calls"
	@if grep -nE '#[[:space:]]*if.*(__linux__|_WIN32|__APPLE__|__FreeBSD__)|\b(accept4|pipe2|signalfd|epoll_[a-z]+|setsockopt|getsockopt|WSAGetLastError|ioctlsocket|closesocket|MSG_NOSIGNAL)\b|[^_]splice\(' \
		$(PORTABLE_C_FILES); then echo "lint: platform code outside src/os (use the seam, src/os/os.h)"; exit 1; fi
	@# POSIX socket headers do not exist on Windows: the code and the unit tests (built as
	@# .exe too) take sockets and addresses from os.h.
	@if grep -nE '#[[:space:]]*include[[:space:]]*<(sys/socket|netinet/[a-z]+|arpa/inet|netdb|net/if|poll|sys/epoll)\.h>' \
		$(PORTABLE_C_FILES) tests/unit/*.c; then echo "lint: include \"os.h\" instead (src/os/os.h)"; exit 1; fi
	@# Code shared by several platforms (src/os/posix, the poll loop) asks the build's
	@# capabilities (os_caps.h of the platform folder), never which OS it is.
	@if grep -nE '#[[:space:]]*(el)?if.*(__linux__|_WIN32|__APPLE__|__FreeBSD__|DP_PORTABLE)' \
		src/os/posix/*.[ch] src/os/*.[ch]; then \
		echo "lint: OS test in shared seam code (use os_caps.h)"; exit 1; fi
	@echo "lint: no platform code outside src/os"

# Every C file of ours: the proxy, its unit tests, the fuzz harnesses, the benchmark and
# the integration suite's helper client.
SRC_C_FILES = $(shell find src -name '*.[ch]')
PORTABLE_C_FILES = $(shell find $(PORTABLE_DIRS) -name '*.[ch]' 2>/dev/null) src/main.c
C_FILES = $(SRC_C_FILES) tests/unit/*.c tests/unit/*.h fuzz/*.c fuzz/*.h bench/*.c \
           tests/integration/*.c

format:
	clang-format -i $(C_FILES)

check-format:
	clang-format --dry-run --Werror $(C_FILES)

# make fuzz: libFuzzer harnesses (clang, ASan+UBSan) built into build-fuzz/, each run for
# FUZZ_SECONDS over a working copy of fuzz/corpus/<harness>/ (see fuzz/README.md).
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -O1 -g -std=c11 -D_GNU_SOURCE -DDP_VERSION=\"$(VERSION)\" $(WARN) -MMD -MP \
                -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJS    := $(patsubst src/%.c,build-fuzz/obj/%.o,$(filter-out src/main.c,$(SRCS)))
FUZZ_BINS    := $(patsubst fuzz/%.c,build-fuzz/%,$(wildcard fuzz/fuzz_*.c))
.SECONDARY: $(FUZZ_OBJS) $(FUZZ_BINS:%=%.o)

build-fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(INCLUDES) -fsanitize=fuzzer-no-link -c -o $@ $<

# The harness itself is not coverage-instrumented: its prefix-by-prefix invariant loops
# would otherwise cost 90 % of the time in comparison tracing (10k instead of 140k exec/s).
build-fuzz/fuzz_%.o: fuzz/fuzz_%.c
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(INCLUDES) -c -o $@ $<

# An archive, so each harness pulls in only the objects its parser needs.
build-fuzz/libdp.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

build-fuzz/fuzz_%: build-fuzz/fuzz_%.o build-fuzz/libdp.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz: $(FUZZ_BINS)
	@sh scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# make valgrind: memcheck of the proxy under a short loopback workload (tests/valgrind.sh).
valgrind: $(BUILD)/dispatch-proxy
	@sh tests/valgrind.sh $(abspath $(BUILD)/dispatch-proxy)

# make bench: the load generator against a no-proxy baseline (bench/run.py); never in
# CI. RESULTS=1 also writes bench/RESULTS.md; BENCH_ARGS passes options (e.g. --quick).
$(BUILD)/loadgen: bench/loadgen.c | $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

bench: all $(BUILD)/loadgen
	@scripts/ensure-deps.sh bench || echo "bench: peers not installed; the table leaves them out"
	$(PYTHON) bench/run.py --proxy $(BUILD)/dispatch-proxy --loadgen $(BUILD)/loadgen \
		$(if $(RESULTS),--results bench/RESULTS.md) $(BENCH_ARGS)

clean:
	rm -rf build build-san build-nobind build-fuzz build-static build-portable build-win64 build-win32 $(BIN)

-include $(shell find $(BUILD) build-fuzz -name '*.d' 2>/dev/null)
