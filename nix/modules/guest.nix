# guest.nix - nixosModules.guest: a NixOS configuration bootable on microvm,
# as qemu-vm.nix makes one bootable on QEMU. It builds on qemu-vm.nix's own
# options and file systems (the same virtualisation.* a NixOS test sets:
# memorySize, cores, vlans, diskImage, diskSize, emptyDiskImages,
# sharedDirectories, msize) and adds system.build.microvm: the node's
# start script, made by nix/lib (docs/test-json.md, "start_script").
# Parsed here, never evaluated against nixpkgs (docs/nix.md).
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  mtlib = import ../lib;
  cfg = config.virtualisation;
  mcfg = config.microvmtest;
  hostPkgs = cfg.host.pkgs;
  name = config.system.name;
  # NixOS's serial console: the PL011 on aarch64, the 8250 on x86_64.
  console = if pkgs.stdenv.hostPlatform.isAarch64 then "ttyAMA0" else "ttyS0";
  regInfo = hostPkgs.closureInfo { rootPaths = cfg.additionalPaths; };
  toplevel = config.system.build.toplevel;

  # xchg and shared come from the driver; the rest are passed on, when their
  # source is a plain path (qemu-vm.nix's may be shell words, like certs').
  driverShares = [
    "xchg"
    "shared"
  ];
  otherShares = lib.filterAttrs (tag: _: !(builtins.elem tag driverShares)) cfg.sharedDirectories;
  shares = lib.mapAttrsToList (tag: s: {
    inherit tag;
    path = s.source;
    readonly = tag == "nix-store";
  }) otherShares;

  # NixOS's NIX_DISK_IMAGE, made at start when missing; raw (microvm has no
  # qcow2), so the default's .qcow2 becomes .img.
  rootDisk = lib.optional (cfg.diskImage != null) {
    file = lib.removeSuffix ".qcow2" cfg.diskImage + ".img";
    serial = "root";
    create = {
      size = cfg.diskSize;
      mkfs = if cfg.useDefaultFilesystems then "${hostPkgs.e2fsprogs}/bin/mkfs.ext4 -q -L nixos" else null;
      envVar = "NIX_DISK_IMAGE";
    };
  };
  emptyDisks = lib.imap0 (i: size: {
    file = "empty${toString i}.img";
    create.size = size;
  }) cfg.emptyDiskImages;

  node = mtlib.normalise name {
    inherit name shares;
    microvm = "${mcfg.package}/bin/microvm";
    kernel = "${config.system.build.kernel}/${config.system.boot.loader.kernelFile}";
    initrd = "${config.system.build.initialRamdisk}/${config.system.boot.loader.initrdFile}";
    cmdline = lib.concatStringsSep " " (
      [ "console=${console}" ]
      ++ config.boot.kernelParams
      ++ [
        "init=${toplevel}/init"
        "regInfo=${regInfo}/registration"
      ]
      ++ mcfg.extraKernelParams
    );
    memory = cfg.memorySize;
    inherit (cfg) cores;
    vlans = cfg.vlans ++ lib.mapAttrsToList (_: v: v.vlan) cfg.interfaces;
    disks = rootDisk ++ emptyDisks;
    extraArgs = mcfg.extraArgs;
    shell = hostPkgs.runtimeShell;
    path = "${hostPkgs.coreutils}/bin";
  };
in
{
  imports = [ (modulesPath + "/virtualisation/qemu-vm.nix") ];

  options.microvmtest = {
    package = lib.mkOption {
      type = lib.types.package;
      description = "The package with microvm (the flake's packages.<system>.default).";
    };
    extraKernelParams = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Kernel parameters added after NixOS's own, on microvm only.";
    };
    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Further microvm options for this node (microvm --help).";
    };
  };

  config = {
    assertions = [
      {
        assertion = !cfg.useBootLoader;
        message = "microvmtest: virtualisation.useBootLoader: microvm boots the kernel directly, with no firmware or boot loader";
      }
      {
        assertion = !cfg.useNixStoreImage;
        message = "microvmtest: virtualisation.useNixStoreImage: the store comes over 9p (tag nix-store); an erofs store image is not supported yet";
      }
      {
        assertion = lib.all (s: !(lib.hasInfix "$" s.source || lib.hasInfix "\"" s.source)) (
          lib.attrValues otherShares
        );
        message = "microvmtest: virtualisation.sharedDirectories: a source must be a plain path on microvm (no shell words)";
      }
    ];

    # virtio-mmio (no PCI on microvm) and the devices on it, in the initrd.
    boot.initrd.availableKernelModules = [
      "virtio_mmio"
      "virtio_blk"
      "virtio_net"
      "virtio_console"
      "virtio_rng"
      "9p"
      "9pnet_virtio"
    ];
    boot.initrd.kernelModules = [ "virtio_mmio" ];

    # microvm's 9P server serves up to 1 MiB; Linux's virtio transport takes
    # at most 125 pages, so the largest a guest can use is 512000.
    virtualisation.msize = lib.mkDefault 512000;

    system.build.microvm =
      hostPkgs.runCommand "nixos-microvm-${name}"
        {
          preferLocalBuild = true;
          meta.mainProgram = "run-${name}-vm";
        }
        ''
          mkdir -p $out/bin
          ln -s ${toplevel} $out/system
          ln -s ${hostPkgs.writeScript "run-${name}-vm" (mtlib.startScript node)} $out/bin/run-${name}-vm
        '';
  };
}
