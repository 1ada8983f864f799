# scaleset: nginx module, scaler daemon, shared codec, tests.
#
#   make            the module (build/ngx_http_scaleset_module.so) and the
#                   scaler binaries (build/scaleset-scaler, build/scalesetctl)
#   make check      deps + build (and make deb) + every test under prove,
#                   and check-fuzz
#   make install    PREFIX (/usr/local), DESTDIR, sysconfdir; the module
#                   into nginx's module directory
#   make deb        the Debian packages into build/deb/ (debian/)
#   make man        the man pages into build/man/ (docs/man/, pandoc)
#   make check-asan the C unit tests under ASan and UBSan, the gateway
#                   tests with the module and the scaler tests with the
#                   scaler and scalesetctl built with them
#   make demo       a scale set on loopback, live, for DEMO_SECONDS (180)
#   make bench      every benchmark; results written into docs/benchmarks.md
#   make deps       install the Debian packages the project needs
#   make fuzz       every libFuzzer target in fuzz/ for FUZZ_SECONDS (60)
#                   each, from its seed corpus (fuzz/corpus/TARGET)
#   make check-fuzz every target for FUZZ_CHECK_SECONDS (10) each (part of
#                   make check): a parser regression fails the build
#   make guest-image the tiny real-VM test guest (build/guest: kernel,
#                   initramfs and two base images, tools/guest-image.sh)
#   make format     the daemon's house style (.clang-format: nginx's layout)
#                   applied to scaler/ and its folders in place
#   make check-format fails where a file of scaler/ differs from it (part
#                   of make check)

SHELL       := /bin/bash
BUILD       := build
NGX_SRC     := /usr/share/nginx/src
NGX_DIR     := $(BUILD)/nginx
MODULE      := $(BUILD)/ngx_http_scaleset_module.so
NGX_ASAN_DIR := $(BUILD)/nginx-asan
ASAN_MODULE := $(BUILD)/asan/ngx_http_scaleset_module.so
,           := ,

CC          ?= cc
OPT         ?= -g -O2
WARN        := -Wall -Wextra -Werror
PKGS        := libvirt libxml-2.0 hiredis jansson yaml-0.1 libevent libevent_pthreads \
               libcurl libsystemd libcrypto libisofs-1
PKG_CFLAGS   = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SC_CFLAGS    = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -MMD -MP \
               -Ishared $(SC_INCS) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
SC_LDLIBS    = $(PKG_LIBS) -lpthread -lm
SAN          := -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer

SHARED_SRCS := $(wildcard shared/*.c)
# the daemon's sources: scaler/*.c and its parts' folders, scaler/PART/*.c
# (docs/design.md, "Layout"); scalesetctl's (scaler/ctl/) are its own.  A
# file left at scaler/ builds as one in a folder does.  Every folder with
# sources or headers is on the include path, so a file includes "plan.h"
# wherever either of them lives.
CTL_SRCS    := $(wildcard scaler/ctl/*.c)
LIB_SRCS    := $(filter-out scaler/main.c $(CTL_SRCS),\
                 $(wildcard scaler/*.c scaler/*/*.c))
SC_DIRS     := scaler $(filter-out scaler/ctl scaler/ui,$(patsubst %/,%,\
                 $(sort $(dir $(wildcard scaler/*/*.c scaler/*/*.h)))))
SC_INCS     := $(SC_DIRS:%=-I%)
UNIT_SRCS   := $(wildcard t/unit/test_*.c)
HELPER_SRCS := $(wildcard t/helpers/*.c)
NGX_SRCS    := $(sort $(wildcard ngx_module/*.c ngx_module/*.h \
                               shared/*.c shared/*.h)) config

SHARED_OBJS := $(SHARED_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CTL_OBJS    := $(CTL_SRCS:%.c=$(BUILD)/obj/%.o)
UNITS       := $(UNIT_SRCS:t/unit/%.c=$(BUILD)/t/%)
HELPERS     := $(HELPER_SRCS:t/helpers/%.c=$(BUILD)/t/helpers/%)
ASAN_UNITS  := $(UNIT_SRCS:t/unit/%.c=$(BUILD)/asan/t/%)

BINS        := $(if $(wildcard scaler/main.c),$(BUILD)/scaleset-scaler) \
               $(if $(CTL_SRCS),$(BUILD)/scalesetctl)

# installation layout (make install; the Debian packages use PREFIX=/usr)
PREFIX      ?= /usr/local
DESTDIR     ?=
bindir      ?= $(PREFIX)/bin
sbindir     ?= $(PREFIX)/sbin
datadir     ?= $(PREFIX)/share
mandir      ?= $(datadir)/man
docdir      ?= $(datadir)/doc/scaleset
sysconfdir  ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
libdir_sd   ?= $(if $(filter /usr,$(PREFIX)),/usr/lib,$(PREFIX)/lib)
unitdir     ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
# nginx's own module directory (--modules-path of the system nginx) and
# Debian's directory of module load snippets
NGX_MODULES_DIR ?= $(or $(shell sed -n 's/.*--modules-path=\([^ ]*\).*/\1/p' $(NGX_SRC)/conf_flags 2>/dev/null),/usr/lib/nginx/modules)
NGX_MODCONF_DIR ?= /usr/share/nginx/modules-available
# the dashboard's files; the scaler looks for them at ../share/scaleset/ui
# from its own directory (else api.ui), then in the tree it was built in
UI_DIR      ?= $(datadir)/scaleset/ui
SRC_UI_DIR  ?= $(CURDIR)/scaler/ui
# the version: one place, debian/changelog
VERSION     := $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null || sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)

PROVE       ?= prove
PROVE_FLAGS ?= -It/lib --timer

.PHONY: all module scaler man units deps node-deps check check-asan check-unit \
        check-integration demo bench install install-module install-scaler \
        deb clean fuzz fuzzers check-fuzz format check-format

all: module scaler

# --- nginx module -------------------------------------------------------
#
# Debian's nginx-dev ships the headers and configure of the system nginx,
# with the exact flags in conf_flags.  The tree is copied and configured
# once under build/nginx; afterwards only "make modules" runs, unless the
# list of module sources or the config script changed.

module: $(MODULE)

$(BUILD)/ngx-srcs.list: FORCE
	@mkdir -p $(BUILD)
	@echo "$(NGX_SRCS:%.h=)" | tr ' ' '\n' | grep -v '^$$' > $@.new
	@cmp -s $@.new $@ 2>/dev/null && rm -f $@.new || mv $@.new $@

# $(call ngx-configure,DIR,CFLAGS,LDFLAGS): a configured copy of the tree
define ngx-configure
	@test -d $(NGX_SRC) || { echo "nginx-dev missing: run make deps"; exit 1; }
	rm -rf $(1) && cp -r $(NGX_SRC) $(1)
	cd $(1) && . ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="-g -fPIC -Wextra -Wno-unused-parameter $(2)" \
	    --with-ld-opt="-fPIC $(3)" \
	    --add-dynamic-module=$(CURDIR) > $(CURDIR)/$(1)-configure.log 2>&1 \
	    || { cat $(CURDIR)/$(1)-configure.log; exit 1; }
endef

$(NGX_DIR)/objs/Makefile: $(BUILD)/ngx-srcs.list config
	$(call ngx-configure,$(NGX_DIR),-O2 $(NGX_EXTRA_CFLAGS),$(NGX_EXTRA_LDFLAGS))

$(MODULE): $(NGX_DIR)/objs/Makefile $(NGX_SRCS)
	$(MAKE) -C $(NGX_DIR) -f objs/Makefile modules
	cp $(NGX_DIR)/objs/ngx_http_scaleset_module.so $@

# the same module with ASan and UBSan (recoverable: a report lands in the
# error log, which every test's done() checks), for check-asan; loaded into
# the system nginx with the ASan runtime preloaded (t/lib/Scaleset/Test.pm)
$(NGX_ASAN_DIR)/objs/Makefile: $(BUILD)/ngx-srcs.list config
	$(call ngx-configure,$(NGX_ASAN_DIR),-O1 -fsanitize=address$(,)undefined -fno-omit-frame-pointer,-fsanitize=address$(,)undefined)

$(ASAN_MODULE): $(NGX_ASAN_DIR)/objs/Makefile $(NGX_SRCS)
	$(MAKE) -C $(NGX_ASAN_DIR) -f objs/Makefile modules
	@mkdir -p $(dir $@)
	cp $(NGX_ASAN_DIR)/objs/ngx_http_scaleset_module.so $@

# --- scaler -------------------------------------------------------------

scaler: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SC_CFLAGS) -c $< -o $@

# ui.c finds the installed dashboard relative to the binary
# (PREFIX/sbin -> PREFIX/share/scaleset/ui), else this tree's: rebuilt when
# the tree's path changes
$(BUILD)/ui-dirs.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(SRC_UI_DIR)' > $@.new
	@cmp -s $@.new $@ 2>/dev/null && rm -f $@.new || mv $@.new $@

UI_DEFS := -DSCALER_SRC_UI_DIR='"$(SRC_UI_DIR)"'
UI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter %/ui.c,$(LIB_SRCS))) \
           $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(filter %/ui.c,$(LIB_SRCS)))
$(UI_OBJS): EXTRA_CFLAGS += $(UI_DEFS)
$(UI_OBJS): $(BUILD)/ui-dirs.stamp

$(BUILD)/libscaler.a: $(LIB_OBJS) $(SHARED_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/scaleset-scaler: $(BUILD)/obj/scaler/main.o $(BUILD)/libscaler.a
	$(CC) $(OPT) $(LDFLAGS) -o $@ $^ $(SC_LDLIBS)

$(BUILD)/scalesetctl: $(CTL_OBJS) $(BUILD)/libscaler.a
	$(CC) $(OPT) $(LDFLAGS) -o $@ $^ $(SC_LDLIBS)

# --- man pages -----------------------------------------------------------
#
# docs/man/*.md pull the reference sections of docs/ in (tools/mkman) and
# pandoc writes them as man pages: one text for both

MAN_SRCS    := $(wildcard docs/man/*.md)
MAN_PAGES   := $(MAN_SRCS:docs/man/%.md=$(BUILD)/man/%)

man: $(MAN_PAGES)

$(BUILD)/man/%: docs/man/%.md tools/mkman $(wildcard docs/*.md) debian/changelog
	@mkdir -p $(dir $@)
	perl tools/mkman $< > $@.md
	pandoc -s -f markdown -t man -M footer="scaleset $(VERSION)" \
	    -o $@ $@.md

# --- install, packages ---------------------------------------------------
#
#   make install [PREFIX=/usr/local] [DESTDIR=] [sysconfdir=...]
# the module into nginx's own module directory (NGX_MODULES_DIR, from the
# system nginx's --modules-path) with its load_module snippet in
# NGX_MODCONF_DIR (Debian: linked from /etc/nginx/modules-enabled by the
# package, by hand otherwise); the scaler, scalesetctl, the unit (paths
# rewritten for PREFIX), sysusers and tmpfiles entries, the dashboard,
# man pages, bash completion, docs and examples.  An existing
# $(sysconfdir)/scaleset/scaler.yaml is kept.

INSTALL     ?= install
EXAMPLES    := conf-examples/nginx.conf conf-examples/prometheus.yml \
               conf-examples/prometheus-rules.yml \
               conf-examples/grafana-dashboard.json \
               conf-examples/qemu-domain.xml conf-examples/scaler-qemu.yaml

install: install-module install-scaler

install-module: $(MODULE) man
	$(INSTALL) -d $(DESTDIR)$(NGX_MODULES_DIR) $(DESTDIR)$(NGX_MODCONF_DIR) \
	    $(DESTDIR)$(mandir)/man8
	$(INSTALL) -m 0644 $(MODULE) $(DESTDIR)$(NGX_MODULES_DIR)/
	echo 'load_module modules/ngx_http_scaleset_module.so;' \
	    > $(DESTDIR)$(NGX_MODCONF_DIR)/mod-http-scaleset.conf
	chmod 0644 $(DESTDIR)$(NGX_MODCONF_DIR)/mod-http-scaleset.conf
	$(INSTALL) -m 0644 $(BUILD)/man/ngx_http_scaleset_module.8 \
	    $(DESTDIR)$(mandir)/man8/

install-scaler: scaler man
	$(INSTALL) -d $(DESTDIR)$(sbindir) $(DESTDIR)$(bindir) \
	    $(DESTDIR)$(sysconfdir)/scaleset $(DESTDIR)$(unitdir) \
	    $(DESTDIR)$(libdir_sd)/sysusers.d $(DESTDIR)$(libdir_sd)/tmpfiles.d \
	    $(DESTDIR)$(UI_DIR) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5 \
	    $(DESTDIR)$(mandir)/man8 $(DESTDIR)$(datadir)/bash-completion/completions \
	    $(DESTDIR)$(docdir)/examples
	$(INSTALL) -m 0755 $(BUILD)/scaleset-scaler $(DESTDIR)$(sbindir)/
	$(INSTALL) -m 0755 $(BUILD)/scalesetctl $(DESTDIR)$(bindir)/
	@if [ -e $(DESTDIR)$(sysconfdir)/scaleset/scaler.yaml ]; then \
	    echo "install: $(DESTDIR)$(sysconfdir)/scaleset/scaler.yaml exists: kept"; \
	else \
	    sed 's|conf-examples/web-domain.xml|$(sysconfdir)/scaleset/web-domain.xml|' \
	        conf-examples/scaler.yaml > $(DESTDIR)$(sysconfdir)/scaleset/scaler.yaml && \
	    chmod 0644 $(DESTDIR)$(sysconfdir)/scaleset/scaler.yaml && \
	    $(INSTALL) -m 0644 conf-examples/web-domain.xml \
	        $(DESTDIR)$(sysconfdir)/scaleset/; \
	fi
	sed -e 's|/usr/sbin/|$(sbindir)/|g' -e 's|/etc/scaleset|$(sysconfdir)/scaleset|g' \
	    conf-examples/scaleset-scaler.service \
	    > $(DESTDIR)$(unitdir)/scaleset-scaler.service
	chmod 0644 $(DESTDIR)$(unitdir)/scaleset-scaler.service
	$(INSTALL) -m 0644 conf-examples/scaleset-scaler.sysusers \
	    $(DESTDIR)$(libdir_sd)/sysusers.d/scaleset-scaler.conf
	$(INSTALL) -m 0644 conf-examples/scaleset-scaler.tmpfiles \
	    $(DESTDIR)$(libdir_sd)/tmpfiles.d/scaleset-scaler.conf
	$(INSTALL) -m 0644 scaler/ui/*.html scaler/ui/*.js scaler/ui/*.css \
	    $(DESTDIR)$(UI_DIR)/
	$(INSTALL) -m 0644 $(BUILD)/man/scalesetctl.1 $(DESTDIR)$(mandir)/man1/
	$(INSTALL) -m 0644 $(BUILD)/man/scaleset.yaml.5 $(DESTDIR)$(mandir)/man5/
	$(INSTALL) -m 0644 $(BUILD)/man/scaleset-scaler.8 $(DESTDIR)$(mandir)/man8/
	$(BUILD)/scalesetctl completion bash \
	    > $(DESTDIR)$(datadir)/bash-completion/completions/scalesetctl
	chmod 0644 $(DESTDIR)$(datadir)/bash-completion/completions/scalesetctl
	$(INSTALL) -m 0644 README.md docs/*.md $(DESTDIR)$(docdir)/
	$(INSTALL) -m 0644 $(EXAMPLES) $(DESTDIR)$(docdir)/examples/

# the Debian packages (debian/, debhelper) into build/deb/: built in a copy
# of the tree (build/deb/src, kept for incremental rebuilds)
DEB_SRC := $(BUILD)/deb/src/scaleset-$(VERSION)

deb:
	@mkdir -p $(DEB_SRC)
	tar -c --exclude=./build --exclude=./.git . | tar -x -C $(DEB_SRC)
	cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc -nc
	mv -f $(BUILD)/deb/src/*.deb $(BUILD)/deb/src/*.changes \
	    $(BUILD)/deb/src/*.buildinfo $(BUILD)/deb/
	@ls -1 $(BUILD)/deb/*.deb

# --- C unit tests (cmocka, TAP) ---------------------------------------

units: $(UNITS) $(HELPERS)

# small drivers the integration tests run (not tests themselves)
$(BUILD)/t/helpers/%: t/helpers/%.c $(BUILD)/libscaler.a
	@mkdir -p $(dir $@)
	$(CC) $(SC_CFLAGS) -o $@ $< $(BUILD)/libscaler.a $(SC_LDLIBS)

$(BUILD)/t/%: t/unit/%.c $(BUILD)/libscaler.a
	@mkdir -p $(dir $@)
	$(CC) $(SC_CFLAGS) -o $@ $< $(BUILD)/libscaler.a $(SC_LDLIBS) -lcmocka

# the module's schedule builder is plain C: its test links that file alone
SCHED_SRCS  := ngx_module/ngx_http_scaleset_sched.c

$(BUILD)/t/test_sched: t/unit/test_sched.c $(SCHED_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(SC_CFLAGS) -Ingx_module -o $@ $< $(SCHED_SRCS) -lcmocka

# the same sources, every object rebuilt with the sanitizers
$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SC_CFLAGS) $(SAN) -c $< -o $@

$(BUILD)/asan/libscaler.a: $(LIB_SRCS:%.c=$(BUILD)/asan/obj/%.o) \
                           $(SHARED_SRCS:%.c=$(BUILD)/asan/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/asan/scaleset-scaler: $(BUILD)/asan/obj/scaler/main.o \
                               $(BUILD)/asan/libscaler.a
	$(CC) $(OPT) $(SAN) -o $@ $^ $(SC_LDLIBS)

$(BUILD)/asan/scalesetctl: $(CTL_SRCS:%.c=$(BUILD)/asan/obj/%.o) \
                           $(BUILD)/asan/libscaler.a
	$(CC) $(OPT) $(SAN) -o $@ $^ $(SC_LDLIBS)

$(BUILD)/asan/t/%: t/unit/%.c $(BUILD)/asan/libscaler.a
	@mkdir -p $(dir $@)
	$(CC) $(SC_CFLAGS) $(SAN) -o $@ $< $(BUILD)/asan/libscaler.a \
	    $(SC_LDLIBS) -lcmocka

$(BUILD)/asan/t/test_sched: t/unit/test_sched.c $(SCHED_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(SC_CFLAGS) $(SAN) -Ingx_module -o $@ $< $(SCHED_SRCS) -lcmocka

# --- fuzzing (libFuzzer) ----------------------------------------------------
#
# Each fuzz/fuzz_NAME.c is a libFuzzer target, built with Debian's clang
# and its ASan + UBSan (+ LeakSanitizer) runtimes against the project's
# sources rebuilt the same way (build/fuzz/libscaler.a).  A run starts
# from the seed corpus fuzz/corpus/NAME, kept in the repo, and writes what
# it finds into build/fuzz/corpus/NAME (never the repo); a crash, a leak,
# a timeout or a failed property is written to build/fuzz/artifacts/ and
# fails the run.  Reproduce one with: build/fuzz/fuzz_NAME FILE

FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 60
FUZZ_CHECK_SECONDS ?= 10
FUZZ_TIMEOUT  ?= 25
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all \
                 -fno-omit-frame-pointer
FUZZ_CFLAGS    = -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -MMD -MP \
                 -Ishared $(SC_INCS) -Ifuzz $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_SRCS     := $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES    := $(FUZZ_SRCS:fuzz/fuzz_%.c=%)
FUZZ_TARGETS  ?= $(FUZZ_NAMES)
FUZZERS       := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_NICE     ?= 0

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/libscaler.a: $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o) \
                           $(SHARED_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(BUILD)/fuzz/libscaler.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(BUILD)/fuzz/libscaler.a $(SC_LDLIBS)

fuzzers: $(FUZZERS)

# tools/fuzz.sh runs each target in turn (log: build/fuzz/NAME.log) and
# fails when any found something; FUZZ_NICE=19 for long runs on a shared
# machine
fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) FUZZ_NICE=$(FUZZ_NICE) \
	    sh tools/fuzz.sh $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

check-fuzz: $(FUZZERS)
	@FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) FUZZ_NICE=$(FUZZ_NICE) \
	    sh tools/fuzz.sh $(BUILD)/fuzz $(FUZZ_CHECK_SECONDS) $(FUZZ_NAMES)

# --- tests --------------------------------------------------------------

deps:
	@sh tools/deps.sh
	@$(MAKE) --no-print-directory node-deps

# playwright-core for the dashboard's browser test (t/ui_dashboard.t), at
# the version t/browser/package-lock.json pins, under build/node (it
# drives Debian's /usr/bin/chromium; no browser is downloaded)
NODE_DEPS := $(BUILD)/node/node_modules/playwright-core/package.json

node-deps: $(NODE_DEPS)

$(NODE_DEPS): t/browser/package.json t/browser/package-lock.json
	@mkdir -p $(BUILD)/node
	cp t/browser/package.json t/browser/package-lock.json $(BUILD)/node/
	cd $(BUILD)/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# --- real-VM guest ------------------------------------------------------
#
# kernel of linux-image-cloud-amd64 + a busybox-static initramfs serving
# /healthz and a page naming the instance; reproducible (fixed mtimes).

GUEST       := $(BUILD)/guest

guest-image: $(GUEST)/initramfs.gz $(GUEST)/image-1.qcow2 $(GUEST)/image-2.qcow2

$(GUEST)/initramfs.gz $(GUEST)/image-1.qcow2 $(GUEST)/image-2.qcow2 &: tools/guest-image.sh
	sh tools/guest-image.sh $(GUEST)

# Every test under prove.  Most of a test's time is waiting (for a pass,
# a check interval, a timeout: make check's prove used 177 s of CPU in
# 893 s), so they run PROVE_JOBS (2) at a time, each on ports the harness
# claims machine-wide (Scaleset::Test::port); the real-VM tests (TCG
# guests: CPU-bound, one at a time by their lock anyway) and the three
# that load the machine on purpose (a wrk load, the demo, the package's
# lintian and chroot) run after them, one at a time.  PROVE_JOBS=1 runs
# everything one at a time.
PROVE_JOBS   ?= 2
SERIAL_TESTS := $(wildcard t/realvm_*.t) t/demo.t t/e2e_load_scale.t \
                t/package_deb.t
PAR_TESTS    := $(filter-out $(SERIAL_TESTS),$(wildcard t/*.t))

check: deps
	$(MAKE) all units man guest-image
	$(MAKE) check-format
	$(MAKE) deb
	$(MAKE) check-asan
	$(MAKE) check-fuzz
	$(PROVE) $(PROVE_FLAGS) -j$(PROVE_JOBS) $(UNITS) $(PAR_TESTS)
	$(PROVE) $(PROVE_FLAGS) $(SERIAL_TESTS)

check-unit: units
	$(if $(UNITS),$(PROVE) $(PROVE_FLAGS) $(UNITS),@echo "no unit tests")

check-integration: all
	$(PROVE) $(PROVE_FLAGS) t/*.t

# the unit tests, then the gateway's integration tests with the module
# built with the sanitizers (prove with no files would run t/: the guard)
ASAN_NGX_TESTS := $(wildcard t/gateway_*.t t/module_load.t)
ASAN_SCALER_TESTS := $(wildcard t/scaler_*.t)

check-asan: $(ASAN_UNITS) $(ASAN_MODULE) $(BUILD)/asan/scaleset-scaler \
            $(BUILD)/asan/scalesetctl
	$(if $(ASAN_UNITS),ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(PROVE) $(PROVE_FLAGS) $(ASAN_UNITS),@echo "no unit tests")
	$(if $(ASAN_NGX_TESTS),SCALESET_NGINX_ASAN=1 \
	    $(PROVE) $(PROVE_FLAGS) -j$(PROVE_JOBS) $(ASAN_NGX_TESTS),@echo "no gateway tests")
	$(if $(ASAN_SCALER_TESTS),SCALESET_ASAN_BINS=1 \
	    $(PROVE) $(PROVE_FLAGS) -j$(PROVE_JOBS) $(ASAN_SCALER_TESTS),@echo "no scaler tests")

# a scale set on loopback for a few minutes (DEMO_SECONDS), then stopped
demo: deps
	$(MAKE) all
	perl tools/demo

# every bench/ script with a "# bench-section:" line; their sections are
# written into docs/benchmarks.md (bench/run.sh)
bench: deps
	$(MAKE) all guest-image
	bash bench/run.sh

# the daemon's layout (.clang-format); the module keeps nginx's by hand
CLANG_FORMAT ?= clang-format
FORMAT_SRCS  := $(wildcard scaler/*.c scaler/*.h scaler/*/*.c scaler/*/*.h)

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRCS)

check-format:
	$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD)

FORCE:

-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
