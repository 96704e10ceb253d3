# test.nix - nixosModules.test: imported into a nixpkgs `runTest` test, it
# runs the test on microvmtest instead of QEMU. Every node gets the guest
# module (defaults); `driver` becomes, with lib.mkForce, a wrapper running
# `microvmtest nixos-driver -c driverConfiguration.json` (nix/lib writes
# the file: NixOS's keys plus each vm's vlans). The test derivation
# (run.nix) is kept as it is: it calls ${driver}/bin/nixos-test-driver and
# asks for the `kvm` and `nixos-test` system features; driverInteractive is
# the same driver with NixOS's interactive extraDriverArgs. The testScript is
# type-checked and linted against microvmtest's stubs (driver/python/*.pyi).
# Parsed here, never evaluated against nixpkgs (docs/nix.md).
#
# The flake passes `guestModule` and `defaultPackage` (system -> package).
{ guestModule, defaultPackage }:
{
  config,
  lib,
  hostPkgs,
  ...
}:
let
  mtlib = import ../lib;
  pkg = config.microvmtest.package;
  stubs = "${pkg}/share/microvmtest";

  nodes = lib.mapAttrs (_: m: {
    name = m.system.name;
    vlans = m.virtualisation.vlans ++ lib.mapAttrsToList (_: v: v.vlan) m.virtualisation.interfaces;
  }) config.nodes;
  startScripts = lib.mapAttrs (_: m: lib.getExe m.system.build.microvm) config.nodes;
  testScriptFile = hostPkgs.writeText "test-script" config.testScriptString;
  configFile = hostPkgs.writeText "driverConfiguration.json" (
    builtins.toJSON (mtlib.driverConfiguration {
      inherit (config) name;
      inherit nodes startScripts testScriptFile;
      inherit (config) globalTimeout;
    })
  );

  # The names a testScript sees for its nodes and vlans (as NixOS's driver.nix).
  pythonize = lib.stringAsChars (c: if builtins.match "[A-Za-z0-9_]" c == null then "_" else c);
  nodeNames =
    let
      ns = lib.mapAttrsToList (_: n: n.name) nodes;
    in
    map pythonize (ns ++ lib.optional (builtins.length ns == 1 && !(builtins.elem "machine" ns)) "machine");
  vlanNames = map (v: "vlan${toString v}") (lib.unique (lib.concatMap (n: n.vlans) (lib.attrValues nodes)));

  driverScript = hostPkgs.writeScript "nixos-test-driver" (mtlib.driverScript {
    shell = hostPkgs.runtimeShell;
    microvmtest = "${pkg}/bin/microvmtest";
    inherit configFile;
    inherit (config) extraDriverArgs;
  });

  driver =
    hostPkgs.runCommand "nixos-test-driver-${config.name}"
      {
        nativeBuildInputs = lib.optional (!config.skipTypeCheck) hostPkgs.mypy;
        testScript = config.testScriptString;
        preferLocalBuild = true;
        inherit (config) passthru;
        meta = config.meta // {
          mainProgram = "nixos-test-driver";
        };
      }
      ''
        mkdir -p $out/bin
        printf '%s' "$testScript" >$out/test-script
        ${lib.optionalString (!config.skipTypeCheck) ''
          {
            echo 'from microvmtest_driver import *'
            for n in ${toString nodeNames}; do echo "$n: Machine"; done
            for v in ${toString vlanNames}; do echo "$v: VLan"; done
            cat $out/test-script
          } >testScriptWithTypes.py
          echo "Type-checking the testScript against microvmtest's stubs (skipTypeCheck disables it)"
          MYPYPATH=${stubs} mypy --no-implicit-optional --pretty --no-color-output testScriptWithTypes.py
        ''}
        ${lib.optionalString (!config.skipLint) ''
          echo "Linting the testScript (skipLint disables it)"
          symbols=$(${hostPkgs.python3.interpreter} -c '
          import ast, sys
          tree = ast.parse(open(sys.argv[1]).read())
          names = []
          for n in tree.body:
              if isinstance(n, (ast.FunctionDef, ast.ClassDef)): names.append(n.name)
              elif isinstance(n, ast.AnnAssign): names.append(n.target.id)
              elif isinstance(n, ast.Assign): names += [t.id for t in n.targets]
              elif isinstance(n, ast.Import): names += [a.asname or a.name for a in n.names]
          print(",".join(names))' ${stubs}/microvmtest_driver.pyi)
          PYFLAKES_BUILTINS="${lib.concatStringsSep "," (nodeNames ++ vlanNames)},$symbols" \
            ${hostPkgs.python3Packages.pyflakes}/bin/pyflakes $out/test-script
        ''}
        ln -s ${driverScript} $out/bin/nixos-test-driver
        ln -s ${configFile} $out/driverConfiguration.json
      '';
in
{
  options.microvmtest.package = lib.mkOption {
    type = lib.types.package;
    default = defaultPackage hostPkgs.stdenv.hostPlatform.system;
    defaultText = lib.literalExpression "microvmtest.packages.\${system}.default";
    description = "The package with microvm and microvmtest that runs this test.";
  };

  config = {
    defaults = {
      imports = [ guestModule ];
      microvmtest.package = lib.mkDefault pkg;
    };
    driver = lib.mkForce driver;
  };
}
