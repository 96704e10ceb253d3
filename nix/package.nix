# package.nix - microvm and microvmtest built from this tree with stdenv
# (the flake's packages.<system>.default and overlays.default). The
# Makefile's own .config step asks dpkg for its packages, so the build makes
# .config from configs/defconfig itself first. Never built here (docs/nix.md).
{
  lib,
  stdenv,
  src,
  pkg-config,
  kconfig-frontends,
  makeWrapper,
  python3,
  json_c,
  pcre2,
  dtc,
  libslirp,
  glib,
  zlib,
  xz,
  zstd,
  libseccomp,
}:
stdenv.mkDerivation {
  pname = "microvmtest";
  version = "0-unstable";
  inherit src;

  nativeBuildInputs = [
    pkg-config
    kconfig-frontends
    makeWrapper
  ];
  buildInputs = [
    json_c
    pcre2
    libslirp
    glib
    zlib
    xz
    zstd
    libseccomp
  ]
  ++ lib.optional stdenv.hostPlatform.isAarch64 dtc;

  # Native builds on each system: no CROSS_COMPILE prefix, stdenv's compiler.
  makeFlags = [
    "ARCH=${stdenv.hostPlatform.parsed.cpu.name}"
    "CROSS_COMPILE="
    "CC=${stdenv.cc.targetPrefix}cc"
    "PREFIX=${placeholder "out"}"
  ];
  enableParallelBuilding = true;

  configurePhase = ''
    runHook preConfigure
    KCONFIG_CONFIG=.config kconfig-conf --defconfig=configs/defconfig Kconfig >/dev/null
    runHook postConfigure
  '';
  buildFlags = [
    "microvm"
    "microvmtest"
  ];

  # A testScript runs under python3 (stdlib only); NixOS's driver is also
  # called as nixos-test-driver.
  postInstall = ''
    wrapProgram $out/bin/microvmtest --set-default MICROVMTEST_PYTHON ${python3.interpreter}
    ln -s microvmtest $out/bin/nixos-test-driver
  '';

  meta = {
    description = "A small KVM monitor (microvm) and a NixOS-style test driver on it (microvmtest)";
    license = lib.licenses.mit;
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
    mainProgram = "microvmtest";
  };
}
