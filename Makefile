# microvm / microvmtest - one Makefile, objects under build/$(ARCH)[-san]/.
#   make                 build with .config (made from configs/defconfig if absent)
#   make defconfig       reset .config to configs/defconfig
#   make menuconfig      edit .config
#   make check           unit + integration tests (SANITIZE=address,undefined ok;
#                        DRIVER_REAL=1 adds microvmtest on a real guest, minutes)
#   make check-extended  the systemd suite's cases make check leaves out (CI runs both)
#   make demo            build, prepare the systemd guest, run the hello-world test
#   make install PREFIX=/usr/local
#   make clean

ARCH ?= $(shell uname -m)
SANITIZE ?=
PREFIX ?= /usr/local
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

ifeq ($(ARCH),aarch64)
CROSS_COMPILE ?= $(if $(filter aarch64,$(shell uname -m)),,aarch64-linux-gnu-)
endif
CC := $(CROSS_COMPILE)gcc
# Cross builds find the target's multiarch .pc files and run their test
# binaries under qemu-user, with the multiarch C library the :arm64 -dev
# packages bring (with -L /usr/$(ARCH)-linux-gnu, pthread_create hangs).
ifneq ($(CROSS_COMPILE),)
export PKG_CONFIG_LIBDIR := /usr/lib/$(ARCH)-linux-gnu/pkgconfig:/usr/share/pkgconfig
RUN := qemu-$(ARCH)-static
endif

B := build/$(ARCH)$(if $(SANITIZE),-san)
GEN := $(B)/include

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP \
	  -Iinclude -Ivmm/$(ARCH) -I$(GEN)/generated -include autoconf.h
ifneq ($(SANITIZE),)
# MICROVM_SANITIZE: seccomp traps and names a forbidden call by default, and
# allows what the sanitizer runtimes need (vmm/seccomp.c).
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all \
	  -DMICROVM_SANITIZE='"$(SANITIZE)"'
LDFLAGS += -fsanitize=$(SANITIZE)
endif
LDLIBS := -lpthread

all: microvm

# --- configuration (kconfig-frontends) -------------------------------------
.config:
	$(Q)scripts/deps build
	$(Q)KCONFIG_CONFIG=.config kconfig-conf --defconfig=configs/defconfig Kconfig >/dev/null

defconfig:
	$(Q)KCONFIG_CONFIG=.config kconfig-conf --defconfig=configs/defconfig Kconfig >/dev/null
	@echo "wrote .config from configs/defconfig"

menuconfig:
	KCONFIG_CONFIG=.config kconfig-mconf Kconfig

$(GEN)/config/auto.conf: .config Kconfig
	$(Q)mkdir -p $(GEN)/config $(GEN)/generated
	@# New symbols take their defaults instead of prompting (no terminal here).
	$(Q)KCONFIG_CONFIG=.config kconfig-conf --olddefconfig Kconfig >/dev/null
	$(Q)cd $(B) && KCONFIG_CONFIG=../../.config kconfig-conf --silentoldconfig ../../Kconfig >/dev/null
	$(Q)touch $@

-include $(GEN)/config/auto.conf

# --- sources ------------------------------------------------------------------
core-y := vmm/image.c vmm/kvm.c vmm/memory.c vmm/vcpu.c vmm/bus.c vmm/eventloop.c vmm/log.c \
	  vmm/options.c vmm/sandbox.c vmm/snapshot.c vmm/snapshot-format.c
core-$(CONFIG_SECCOMP) += vmm/seccomp.c
arch-x86_64 := vmm/x86_64/layout.c vmm/x86_64/boot.c vmm/x86_64/bzimage.c \
	  vmm/x86_64/elf.c vmm/x86_64/cpu.c vmm/x86_64/acpi.c vmm/x86_64/acpi-dsdt.c \
	  vmm/x86_64/power.c vmm/x86_64/snapshot.c
arch-aarch64 := vmm/aarch64/layout.c vmm/aarch64/boot.c vmm/aarch64/fdt.c vmm/aarch64/cpu.c \
	  vmm/aarch64/snapshot.c
core-y += $(arch-$(ARCH))
core-$(CONFIG_HOST_DECOMPRESS) += vmm/decompress.c
core-$(CONFIG_SERIAL) += devices/serial.c devices/uart16550.c devices/pl011.c
core-$(CONFIG_PVPANIC) += devices/pvpanic.c
core-$(CONFIG_VIRTIO_MMIO) += devices/virtio/queue.c devices/virtio/mmio.c \
	devices/virtio/snapshot.c
core-$(CONFIG_VIRTIO_CONSOLE) += devices/virtio/console.c
core-$(CONFIG_VIRTIO_BLK) += devices/virtio/blk.c devices/virtio/blk-cow.c
core-$(CONFIG_VIRTIO_RNG) += devices/virtio/rng.c
p9-srcs := $(addprefix devices/9p/,wire.c fid.c path.c server.c file.c attr.c dir.c xattr.c \
	snap.c)
core-$(CONFIG_VIRTIO_9P) += devices/virtio/9p.c $(p9-srcs)
core-$(CONFIG_VIRTIO_NET) += devices/virtio/net.c devices/virtio/net-options.c \
	devices/virtio/net-user.c
core-$(CONFIG_CONTROL) += devices/control.c

ifeq ($(CONFIG_HOST_DECOMPRESS),y)
LDLIBS += -lz -llzma -lzstd
endif
ifeq ($(CONFIG_SECCOMP),y)
$(B)/vmm/seccomp.o: CFLAGS += $(shell pkg-config --cflags libseccomp)
LDLIBS += $(shell pkg-config --libs libseccomp)
endif
ifeq ($(CONFIG_VIRTIO_NET),y)
$(B)/devices/virtio/net-user.o: CFLAGS += $(shell pkg-config --cflags slirp)
LDLIBS += $(shell pkg-config --libs slirp)
endif
# libfdt-dev cannot be installed for two architectures at once (bookworm):
# a cross build links the runtime library and uses the host's headers.
ifeq ($(ARCH),aarch64)
LDLIBS += $(if $(CROSS_COMPILE),-l:libfdt.so.1,-lfdt)
endif

core-objs := $(core-y:%.c=$(B)/%.o)
microvm-objs := $(core-objs) $(B)/vmm/main.o

$(B)/microvm: $(microvm-objs)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

microvm: $(B)/microvm
	$(Q)$(if $(CROSS_COMPILE),:,ln -sf $(B:build/%=%)/microvm build/microvm 2>/dev/null || true)

# Virtqueue chain walking under libFuzzer (clang): CHECK_FUZZ_SECS (default
# 10; .ci/run's sanitizer pass gives 60) in `make check`, FUZZ_SECS (default
# 300) with `make fuzz`; the corpus is kept under build/.
virtio-fuzz := $(if $(CROSS_COMPILE),,$(if $(filter y,$(CONFIG_VIRTIO_MMIO)),\
	$(if $(shell command -v clang),$(B)/fuzz/fuzz_virtqueue $(B)/fuzz/fuzz_snapshot \
	$(if $(filter y,$(CONFIG_VIRTIO_NET)),$(B)/fuzz/fuzz_virtio_net))))
FUZZ_SECS ?= 300
CHECK_FUZZ_SECS ?= 10
FUZZ_CC = clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Iinclude \
		-I$(GEN)/generated -include autoconf.h
$(B)/fuzz/fuzz_virtqueue: tests/fuzz/fuzz_virtqueue.c devices/virtio/queue.c vmm/memory.c \
		vmm/log.c $(GEN)/config/auto.conf
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -o $@ $(filter %.c,$^)

# virtio-net's rx/tx paths on a vlan socket, with the transport and stubs for KVM.
$(B)/fuzz/fuzz_virtio_net: tests/fuzz/fuzz_virtio_net.c tests/fuzz/nokvm.h devices/virtio/queue.c vmm/snapshot-format.c \
		devices/virtio/mmio.c devices/virtio/net.c devices/virtio/net-options.c \
		devices/virtio/net-user.c vmm/memory.c vmm/log.c vmm/bus.c vmm/eventloop.c \
		$(GEN)/config/auto.conf
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(shell pkg-config --cflags slirp) -o $@ $(filter %.c,$^) \
		$(shell pkg-config --libs slirp)

# The snapshot state parser and the virtio-mmio restore, the same way.
$(B)/fuzz/fuzz_snapshot: tests/fuzz/fuzz_snapshot.c tests/fuzz/nokvm.h vmm/snapshot-format.c \
		devices/virtio/snapshot.c devices/virtio/queue.c devices/virtio/mmio.c \
		devices/virtio/rng.c vmm/memory.c vmm/bus.c vmm/eventloop.c $(GEN)/config/auto.conf
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -o $@ $(filter %.c,$^)

# The 9P server's message handling, the same way (no VM: plain buffers).
p9-fuzz := $(if $(CROSS_COMPILE),,$(if $(filter y,$(CONFIG_VIRTIO_9P)),\
	$(if $(shell command -v clang),$(B)/fuzz/fuzz_9p)))
$(B)/fuzz/fuzz_9p: tests/fuzz/fuzz_9p.c tests/unit/p9msg.h $(p9-srcs) vmm/snapshot-format.c \
		$(GEN)/config/auto.conf
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Iinclude \
		-I$(GEN)/generated -include autoconf.h -o $@ $(filter %.c,$^) -lpthread

fuzz: $(virtio-fuzz) $(p9-fuzz)
	$(Q)for f in $(virtio-fuzz); do tests/fuzz/run $$f $(FUZZ_SECS) || exit 1; done
	$(Q)$(if $(p9-fuzz),tests/fuzz/run $(p9-fuzz) $(FUZZ_SECS),:)

# --- microvmtest, the test driver (CONFIG_DRIVER) ------------------------------
driver-srcs := $(filter-out driver/main.c,$(wildcard driver/*.c))
driver-objs := $(driver-srcs:%.c=$(B)/%.o)
DRIVER_LIBS := $(shell pkg-config --libs json-c libpcre2-8)
fuzz-bin := $(if $(CROSS_COMPILE),,$(if $(shell command -v clang),$(B)/fuzz/fuzz_testfile))
driver-check := $(if $(filter y,$(CONFIG_DRIVER)),$(if $(CROSS_COMPILE),,\
	FUZZ=$(fuzz-bin) FUZZ_SECS=$(CHECK_FUZZ_SECS) tests/driver/run $(B)))

$(B)/microvmtest: $(driver-objs) $(B)/driver/main.o
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DRIVER_LIBS)

microvmtest: $(B)/microvmtest
	$(Q)$(if $(CROSS_COMPILE),:,ln -sf $(B:build/%=%)/microvmtest build/microvmtest 2>/dev/null || true)

ifeq ($(CONFIG_DRIVER),y)
all: microvmtest
endif

# The test.json loader under libFuzzer (clang), run briefly by tests/driver/run.
$(B)/fuzz/fuzz_testfile: tests/driver/fuzz_testfile.c $(driver-srcs) $(GEN)/config/auto.conf
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Iinclude \
		-I$(GEN)/generated -include autoconf.h -o $@ $(filter %.c,$^) $(DRIVER_LIBS)

$(B)/%.o: %.c $(GEN)/config/auto.conf
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# --- tests --------------------------------------------------------------------
# test_x86_* (and the tests of ACPI tables and of the 16550) only for x86_64,
# test_arm64_* (the PL011's included) only for aarch64, the rest for both.
unit-only-x86_64 := $(wildcard tests/unit/test_x86_*.c) tests/unit/test_acpi.c \
	tests/unit/test_serial.c
unit-only-aarch64 := $(wildcard tests/unit/test_arm64_*.c)
unit-srcs := $(filter-out $(filter-out $(unit-only-$(ARCH)),$(unit-only-x86_64) $(unit-only-aarch64)),\
	       $(wildcard tests/unit/test_*.c))
unit-srcs := $(filter-out $(if $(filter y,$(CONFIG_DRIVER)),,tests/unit/test_testfile.c \
	tests/unit/test_switch.c tests/unit/test_pyproto.c tests/unit/test_snapcache.c),$(unit-srcs))
unit-srcs := $(filter-out $(if $(filter y,$(CONFIG_SECCOMP)),,$(wildcard tests/unit/test_seccomp*.c)),\
	$(unit-srcs))
unit-bins := $(unit-srcs:tests/unit/%.c=$(B)/tests/%)
tiny-srcs := $(wildcard tests/tinyguest/*.S)
tiny-elfs := $(tiny-srcs:tests/tinyguest/%.S=$(B)/tinyguest/%.elf)

# Hand-written guests are ELF files the x86_64 loader enters in 64-bit mode.
$(B)/tinyguest/%.elf: tests/tinyguest/%.S tests/tinyguest/tiny.h
	@mkdir -p $(dir $@)
	@echo "  AS      $@"
	$(Q)$(CC) -nostdlib -static -no-pie -Wl,-Ttext=0x200000 -Wl,--build-id=none -o $@ $<

tinyguests: $(tiny-elfs)

# The driver's vlan switch on a listening socket, for the integration tests.
$(B)/tests/vlanswitch: tests/net/vlanswitch.c $(B)/driver/switch.o
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

# The benches' host-side tools (timeto, settle), one file each.
$(B)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

bench: microvm tinyguests $(B)/bench/timeto $(B)/bench/settle
	$(Q)B=$(B) bench/boot

$(B)/tests/%: tests/unit/%.c $(core-objs)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(core-objs) $(LDLIBS) -lcmocka

$(B)/tests/test_switch: tests/unit/test_switch.c $(B)/driver/switch.o
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcmocka

$(B)/tests/test_testfile: tests/unit/test_testfile.c $(driver-objs)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(driver-objs) -lcmocka $(DRIVER_LIBS)

$(B)/tests/test_snapcache: tests/unit/test_snapcache.c $(driver-objs)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) -Idriver $(LDFLAGS) -o $@ $< $(driver-objs) -lcmocka $(DRIVER_LIBS)

$(B)/tests/test_pyproto: tests/unit/test_pyproto.c $(driver-objs)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) -Idriver $(LDFLAGS) -o $@ $< $(driver-objs) -lcmocka $(DRIVER_LIBS)

unit: $(unit-bins)
	@set -e; for t in $(unit-bins); do echo "== $$t"; $(RUN) $$t; done

# nix/lib evaluated and built with Nix (no nixpkgs), its test run on the fake
# microvm (seconds); the real guest run is driver/systemd's nix-systemd case.
nix-check: microvmtest
	$(Q)tests/nix/run $(B)

deps-check:
	$(Q)scripts/deps check

# Every retry the harness or a suite makes is recorded here, and more than one
# in a pass fails it (tests/harness/retry-gate).
#
# A pass builds everything first, then runs two chains side by side (make -j2):
# the real guests, one harness run after another (check-guests), and the
# host-side checks (check-host: the systemd image, the driver on its fake
# microvm, nix, the fuzzers, the arm64 cross build and its unit tests). The
# emulated outer VM keeps about one of the host's two cores busy (its nested
# guest runs on one vCPU most of the time), so the host side used to wait for
# a core that was idle. Each host step's output goes to $(B)/check-host/ and is
# printed in one piece when the step ends.
arm-quick := $(if $(filter x86_64,$(ARCH)),$(if $(SANITIZE),,y))
check: export MICROVM_RETRY_LOG := $(abspath $(B))/retries.log
check: deps-check
	$(Q)mkdir -p $(B) && : >$(B)/retries.log
	$(Q)$(if $(arm-quick),scripts/deps aarch64,:)
	$(Q)$(MAKE) -j2 --no-print-directory microvm $(unit-bins) tinyguests $(B)/tests/vlanswitch \
		$(if $(filter y,$(CONFIG_DRIVER)),microvmtest $(fuzz-bin)) $(virtio-fuzz) $(p9-fuzz)
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) -j2 --no-print-directory check-guests check-host
	$(Q)$(if $(SANITIZE),echo "check: no aarch64 in this pass: its build has no sanitizers (ASan does not \
		run under qemu-user); the plain pass runs it",:)
	$(Q)tests/harness/retry-gate $(B)/retries.log

# The guest chain: each step waits for the one before, and the systemd suite
# and the arm64 guest for the host step that builds what they boot.
check-guests: check-guest-arm
check-guest-tiny:
	$(Q)tests/tinyguest/run $(B)/microvm $(B)/tinyguest
check-guest-integration: check-guest-tiny
	$(Q)ARCH=$(ARCH) B=$(B) tests/run-integration
	$(Q)$(if $(and $(DRIVER_REAL),$(driver-check)),tests/driver/real-tiny $(B) build/guest/tiny && \
		tests/driver/real-tiny-net $(B) build/guest/tiny,:)
check-guest-systemd: check-guest-integration check-host-image
	$(Q)$(if $(driver-check),tests/guest/build-systemd && tests/driver/systemd/run $(B),:)
check-guest-arm: check-guest-systemd check-host-arm
	$(Q)$(if $(arm-quick),B=build/aarch64 tests/run-aarch64 quick,:)

# host-step NAME,COMMAND: one host-side step, its output kept and printed whole.
define host-step
	@mkdir -p $(B)/check-host
	$(Q)s=$$(date +%s); if ( $(2) ) >$(B)/check-host/$(1).log 2>&1; then st=passed; else st=FAILED; fi; \
	{ echo "== host side, beside the guests: $(1) $$st in $$(($$(date +%s) - s)) s"; \
	  cat $(B)/check-host/$(1).log; } && [ $$st = passed ]
endef

# The host chain, one step after another; the systemd image comes first
# because the guest chain needs it soonest.
check-host: check-host-arm
check-host-image:
	$(if $(driver-check),$(call host-step,systemd-image,tests/guest/build-systemd))
check-host-driver: check-host-image
	$(if $(driver-check),$(call host-step,driver,$(driver-check) && tests/nix/run $(B)))
check-host-fuzz: check-host-driver
	$(if $(virtio-fuzz)$(p9-fuzz),$(call host-step,fuzz,set -e; \
		for f in $(virtio-fuzz) $(p9-fuzz); do tests/fuzz/run $$f $(CHECK_FUZZ_SECS); done))
check-host-arm: check-host-fuzz
	$(if $(arm-quick),$(call host-step,aarch64-build-and-unit,\
		$(MAKE) --no-print-directory ARCH=aarch64 SANITIZE= microvm microvmtest unit))

# The systemd suite's extended tier (tests/driver/systemd/run: the cases
# make check leaves out to stay within 25 minutes), with its own retry gate.
check-extended: export MICROVM_RETRY_LOG := $(abspath $(B))/retries-extended.log
check-extended: deps-check
	$(Q)mkdir -p $(B) && : >$(B)/retries-extended.log
	$(Q)$(MAKE) --no-print-directory microvm microvmtest
	$(Q)tests/guest/build-systemd && MICROVM_SYSTEMD_TIER=extended tests/driver/systemd/run $(B)
	$(Q)tests/harness/retry-gate $(B)/retries-extended.log

# The arm64 port from any host: cross build, unit tests under qemu-user, then
# the arm64 tiny guest booted once (quick: part of an x86 `make check`) or
# the whole arm64 suite (with the seed scenario on the arm64 systemd guest),
# in the aarch64 nested harness on x86 hosts. No
# sanitizers there: ASan does not run under qemu-user.
check-aarch64-quick check-aarch64:
	$(Q)scripts/deps aarch64
	$(Q)$(MAKE) --no-print-directory ARCH=aarch64 SANITIZE= microvm microvmtest unit
	$(Q)B=build/aarch64 tests/run-aarch64 $(if $(filter check-aarch64,$@),full,quick)

demo:
	$(Q)scripts/deps demo
	$(Q)$(MAKE) --no-print-directory microvm microvmtest
	$(Q)tests/guest/build-systemd
	$(Q)B=$(B) scripts/demo

install: microvm $(if $(filter y,$(CONFIG_DRIVER)),microvmtest)
	install -D -m 0755 $(B)/microvm $(DESTDIR)$(PREFIX)/bin/microvm
	$(if $(filter y,$(CONFIG_DRIVER)),install -D -m 0755 $(B)/microvmtest $(DESTDIR)$(PREFIX)/bin/microvmtest)
	$(if $(filter y,$(CONFIG_DRIVER)),install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/microvmtest \
		driver/python/microvmtest_driver.py driver/python/microvmtest_driver.pyi)

clean:
	rm -rf build

.PHONY: all defconfig menuconfig microvm microvmtest unit tinyguests bench check check-extended \
	check-guests check-guest-tiny check-guest-integration check-guest-systemd check-guest-arm \
	check-host check-host-image check-host-driver check-host-fuzz check-host-arm nix-check deps-check demo install clean check-aarch64 check-aarch64-quick fuzz
-include $(shell find $(B) -name '*.d' 2>/dev/null)
