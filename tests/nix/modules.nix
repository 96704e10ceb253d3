# modules.nix - the bodies of nix/modules/guest.nix and test.nix, and
# flake.nix's outputs with nix/package.nix, evaluated against stand-ins for the few nixpkgs functions they call and for a
# node's config (no nixpkgs and no module system here: option merging,
# mkDefault and mkForce are identities). What this shows: the modules call
# nix/lib with the node's virtualisation.* settings as intended. What it
# does not: that nixpkgs evaluates them (docs/nix.md). Each case { got; want; }.
let
  b = builtins;
  lib = rec {
    mkOption = o: o;
    mkDefault = x: x;
    mkForce = x: x;
    literalExpression = x: x;
    types = {
      package = "package";
      str = "str";
      listOf = t: "list of ${t}";
    };
    attrValues = b.attrValues;
    mapAttrs = b.mapAttrs;
    concatMap = b.concatMap;
    concatStringsSep = b.concatStringsSep;
    all = b.all;
    filterAttrs = f: s: b.listToAttrs (map (n: { name = n; value = s.${n}; }) (b.filter (n: f n s.${n}) (b.attrNames s)));
    mapAttrsToList = f: s: map (n: f n s.${n}) (b.attrNames s);
    optional = c: x: if c then [ x ] else [ ];
    optionalString = c: s: if c then s else "";
    imap0 = f: l: b.genList (i: f i (b.elemAt l i)) (b.length l);
    removeSuffix =
      suf: s:
      let
        n = b.stringLength s - b.stringLength suf;
      in
      if n >= 0 && b.substring n (-1) s == suf then b.substring 0 n s else s;
    hasInfix = i: s: b.length (b.split (b.replaceStrings [ "$" ] [ "\\$" ] i) s) > 1;
    unique = b.foldl' (acc: x: if b.elem x acc then acc else acc ++ [ x ]) [ ];
    stringAsChars = f: s: b.concatStringsSep "" (map f (b.filter (c: b.isString c && c != "") (b.split "" s)));
    getExe = d: "${d}/bin/${d.meta.mainProgram}";
  };
  # Writers that show what they were given, inline.
  hostPkgs = {
    closureInfo = { rootPaths }: "/store/closure-info";
    runCommand = name: attrs: cmd: {
      inherit name attrs cmd;
      inherit (attrs) meta;
      outPath = "/store/${name}";
    };
    writeScript = name: text: "<${name}>${text}</${name}>";
    writeText = name: text: "<${name}>${text}</${name}>";
    e2fsprogs = "/store/e2fsprogs";
    coreutils = "/store/coreutils";
    runtimeShell = "/store/bash/bin/bash";
    mypy = "/store/mypy";
    python3 = {
      interpreter = "/store/python3/bin/python3";
    };
    python3Packages.pyflakes = "/store/pyflakes";
    stdenv.hostPlatform.system = "x86_64-linux";
  };
  share = source: target: {
    inherit source target;
    securityModel = "none";
  };
  nodeConfig = name: extra: {
    virtualisation = {
      host.pkgs = hostPkgs;
      sharedDirectories = {
        nix-store = share "/nix/store" "/nix/.ro-store";
        xchg = share "\"$TMPDIR\"/xchg" "/tmp/xchg";
        shared = share "\"\${SHARED_DIR:-$TMPDIR/xchg}\"" "/tmp/shared";
      };
      memorySize = 1024;
      cores = 1;
      vlans = [ 1 ];
      interfaces = { };
      diskImage = null;
      diskSize = 1024;
      emptyDiskImages = [ ];
      useDefaultFilesystems = true;
      useBootLoader = false;
      useNixStoreImage = false;
      additionalPaths = [ ];
    }
    // extra;
    microvmtest = {
      package = "/store/microvmtest";
      extraKernelParams = [ ];
      extraArgs = [ ];
    };
    system = {
      inherit name;
      build = {
        toplevel = "/store/toplevel-${name}";
        kernel = "/store/linux";
        initialRamdisk = "/store/initrd";
      };
      boot.loader = {
        kernelFile = "bzImage";
        initrdFile = "initrd";
      };
    };
    boot.kernelParams = [ "loglevel=4" ];
  };
  guest =
    config: aarch64:
    import ../../nix/modules/guest.nix {
      inherit config lib;
      pkgs.stdenv.hostPlatform.isAarch64 = aarch64;
      modulesPath = "/nixpkgs/nixos/modules";
    };
  # The start script written into system.build.microvm.
  startScript =
    m:
    let
      cmd = m.config.system.build.microvm.cmd;
    in
    b.head (b.match ".*<run-[a-z]+-vm>(.*)</run-[a-z]+-vm>.*" cmd);
  lines = s: b.filter (l: b.isString l && l != "") (b.split "\n" s);
  # The lines from the exec line on.
  fromExec =
    ls: if ls == [ ] || b.match "exec .*" (b.head ls) != null then ls else fromExec (b.tail ls);
  execLines = s: fromExec (lines s);

  server = guest (nodeConfig "server" {
    memorySize = 2048;
    cores = 2;
    vlans = [
      1
      2
    ];
    diskImage = "./server.qcow2";
    emptyDiskImages = [ 64 ];
  }) false;
  armNode = guest (nodeConfig "arm" { }) true;
  # useHostCerts' share has shell words for a source: refused by an assertion.
  certsNode = guest (nodeConfig "certs" {
    sharedDirectories.certs = share "\"$TMPDIR\"/certs" "/etc/ssl/certs";
  }) false;

  # The test module on two nodes that went through the guest module.
  nodeWithVm = name: vlans: {
    system.name = name;
    virtualisation = {
      inherit vlans;
      interfaces = { };
    };
    system.build.microvm = {
      outPath = "/store/nixos-microvm-${name}";
      meta.mainProgram = "run-${name}-vm";
    };
  };
  testModule =
    import ../../nix/modules/test.nix
      {
        guestModule = "/guest.nix";
        defaultPackage = system: "/store/microvmtest-${system}";
      }
      {
        inherit lib hostPkgs;
        config = {
          name = "two";
          nodes = {
            server = nodeWithVm "server" [ 1 ];
            client-1 = nodeWithVm "client-1" [
              1
              2
            ];
          };
          globalTimeout = 600;
          testScriptString = "start_all()\n";
          extraDriverArgs = [ "--interactive" ];
          skipTypeCheck = false;
          skipLint = false;
          passthru = { };
          meta = { };
          microvmtest.package = "/store/microvmtest";
        };
      };
  driverCmd = testModule.config.driver.cmd;
  configJson = b.fromJSON (b.head (b.match ".*<driverConfiguration.json>(.*)</driverConfiguration.json>.*" driverCmd));

  # flake.nix's outputs function with a stand-in nixpkgs input, and
  # nix/package.nix with a stand-in stdenv (attributes as given).
  stubPkgs = system: rec {
    callPackage = f: args: import f (pkgArgs system // args);
  };
  pkgArgs = system: {
    lib = {
      optional = lib.optional;
      licenses.mit = "mit";
    };
    stdenv = {
      mkDerivation = a: a;
      hostPlatform = {
        isAarch64 = system == "aarch64-linux";
        parsed.cpu.name = b.head (b.split "-" system);
      };
      cc.targetPrefix = "";
    };
    pkg-config = "pkg-config";
    kconfig-frontends = "kconfig-frontends";
    makeWrapper = "makeWrapper";
    python3.interpreter = "/store/python3/bin/python3";
    json_c = "json_c";
    pcre2 = "pcre2";
    dtc = "dtc";
    libslirp = "libslirp";
    glib = "glib";
    zlib = "zlib";
    xz = "xz";
    zstd = "zstd";
    libseccomp = "libseccomp";
  };
  nixpkgsStub = {
    lib.genAttrs = names: f: b.listToAttrs (map (n: { name = n; value = f n; }) names);
    legacyPackages = {
      x86_64-linux = stubPkgs "x86_64-linux";
      aarch64-linux = stubPkgs "aarch64-linux";
    };
  };
  flake = (import ../../flake.nix).outputs {
    self = flake // { outPath = "/src"; };
    nixpkgs = nixpkgsStub;
  };
in
{
  flakeOutputs = {
    got = {
      packages = b.mapAttrs (_: b.attrNames) flake.packages;
      nixosModules = b.attrNames flake.nixosModules;
      lib = b.attrNames flake.lib == b.attrNames (import ../../nix/lib);
      overlay = (flake.overlays.default (stubPkgs "x86_64-linux") { }).microvmtest.pname;
      guestModule =
        let
          m = flake.nixosModules.guest {
            config.virtualisation.host.pkgs.stdenv.hostPlatform.system = "aarch64-linux";
            inherit lib;
          };
        in
        {
          imports = map toString m.imports;
          package = m.microvmtest.package.makeFlags;
        };
    };
    want = {
      packages = {
        aarch64-linux = [
          "default"
          "microvmtest"
        ];
        x86_64-linux = [
          "default"
          "microvmtest"
        ];
      };
      nixosModules = [
        "guest"
        "test"
      ];
      lib = true;
      overlay = "microvmtest";
      guestModule = {
        imports = [ (toString ../../nix/modules/guest.nix) ];
        package = flake.packages.aarch64-linux.default.makeFlags;
      };
    };
  };
  flakePackages = {
    got = b.mapAttrs (_: p: {
      inherit (p.default) makeFlags buildInputs;
      src = toString p.default.src;
    }) flake.packages;
    want =
      let
        common = [
          "json_c"
          "pcre2"
          "libslirp"
          "glib"
          "zlib"
          "xz"
          "zstd"
          "libseccomp"
        ];
        flags = arch: [
          "ARCH=${arch}"
          "CROSS_COMPILE="
          "CC=cc"
          "PREFIX=${b.placeholder "out"}"
        ];
      in
      {
        aarch64-linux = {
          makeFlags = flags "aarch64";
          buildInputs = common ++ [ "dtc" ];
          src = "/src";
        };
        x86_64-linux = {
          makeFlags = flags "x86_64";
          buildInputs = common;
          src = "/src";
        };
      };
  };
  guestScript = {
    got = execLines (startScript server);
    want = [
      "exec '/store/microvmtest/bin/microvm' --kernel '/store/linux/bzImage' \\"
      "\t--initrd '/store/initrd/initrd' \\"
      "\t--cmdline 'console=ttyS0 loglevel=4 init=/store/toplevel-server/init regInfo=/store/closure-info/registration' \\"
      "\t--memory 2048 \\"
      "\t--cpus 2 \\"
      "\t--share 'tag=nix-store,path=/nix/store,readonly' \\"
      "\t--disk \"$disk0\"',serial=root' \\"
      "\t--disk \"$disk1\" \\"
      "\t\"$@\""
    ];
  };
  guestDisks = {
    got = b.filter (l: b.match "(disk|\ttruncate|\t/store).*" l != null) (lines (startScript server));
    want = [
      "disk0=\${NIX_DISK_IMAGE:-'./server.img'}"
      "\ttruncate -s 1024M \"$disk0\""
      "\t/store/e2fsprogs/bin/mkfs.ext4 -q -L nixos \"$disk0\" >/dev/null"
      "disk1='empty0.img'"
      "\ttruncate -s 64M \"$disk1\""
    ];
  };
  guestAarch64Console = {
    got = b.head (b.match ".*--cmdline '(console=[A-Za-z0-9]+) .*" (startScript armNode));
    want = "console=ttyAMA0";
  };
  guestInitrd = {
    got = server.config.boot.initrd.availableKernelModules;
    want = [
      "virtio_mmio"
      "virtio_blk"
      "virtio_net"
      "virtio_console"
      "virtio_rng"
      "9p"
      "9pnet_virtio"
    ];
  };
  guestAssertions = {
    got = map (a: a.assertion) server.config.assertions;
    want = [
      true
      true
      true
    ];
  };
  guestShellWordsShare = {
    got = map (a: a.assertion) certsNode.config.assertions;
    want = [
      true
      true
      false
    ];
  };
  testDriverConfiguration = {
    got = configJson;
    want = {
      name = "two";
      vms = {
        client-1 = {
          name = "client-1";
          start_script = "/store/nixos-microvm-client-1/bin/run-client-1-vm";
          vlans = [
            1
            2
          ];
        };
        server = {
          name = "server";
          start_script = "/store/nixos-microvm-server/bin/run-server-vm";
          vlans = [ 1 ];
        };
      };
      containers = { };
      vlans = [
        1
        2
      ];
      global_timeout = 600;
      test_script = "<test-script>start_all()\n</test-script>";
      enable_ssh_backdoor = false;
    };
  };
  testDriverCommand = {
    got = b.match ".*exec '/store/microvmtest/bin/microvmtest' nixos-driver -c '<driverConfiguration.json>.*</driverConfiguration.json>' '--interactive' \"\\$@\".*" driverCmd != null;
    want = true;
  };
  testTypeCheckNames = {
    got = b.filter (l: b.match ".*for [nv] in .*; do .*" l != null) (lines driverCmd);
    want = [
      "  for n in client_1 server; do echo \"$n: Machine\"; done"
      "  for v in vlan1 vlan2; do echo \"$v: VLan\"; done"
    ];
  };
  testDefaults = {
    got = testModule.config.defaults;
    want = {
      imports = [ "/guest.nix" ];
      microvmtest.package = "/store/microvmtest";
    };
  };
}
