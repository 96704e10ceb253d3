# nix/lib - microvmtest's Nix library, builtins only (no nixpkgs): a node
# description becomes the node's start script (docs/test-json.md,
# "start_script") and a test becomes the driverConfiguration JSON that
# `microvmtest nixos-driver -c` reads. The NixOS modules (nix/modules/) and
# the evaluation tests (tests/nix/) both use it; see docs/nix.md.
let
  check = import ./check.nix;
  node = import ./node.nix { inherit check; };
  inherit (node) normalise q;

  unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  testOptions = [
    "name"
    "nodes"
    "defaults"
    "testScript"
    "globalTimeout"
    "microvmtest"
    "extraDriverArgs"
    "writers"
    "shell"
  ];
in
rec {
  inherit (node) nodeOptions diskOptions shareOptions startScript microvmArgs;
  inherit normalise;

  # Writers from builtins.derivation alone: /bin/sh builds them with the
  # host's mkdir and chmod, so they need `--option sandbox false` (as
  # tests/nix/nix runs them). A nixpkgs user passes pkgs.writeText and friends.
  builtinsWriters =
    {
      system ? builtins.currentSystem,
      shell ? "/bin/sh",
      path ? "/usr/bin:/bin",
    }:
    let
      mk =
        name: text: cmd:
        builtins.derivation {
          inherit name system text;
          builder = shell;
          PATH = path;
          args = [
            "-c"
            cmd
          ];
        };
    in
    {
      writeText = name: text: mk name text ''printf '%s' "$text" >"$out"'';
      writeScript = name: text: mk name text ''printf '%s' "$text" >"$out" && chmod 555 "$out"'';
      writeScriptBin =
        name: text:
        mk name text ''mkdir -p "$out/bin" && printf '%s' "$text" >"$out/bin/${name}" && chmod 555 "$out/bin/${name}"'';
    };

  # driverConfiguration { name; nodes; startScripts; testScriptFile; globalTimeout }:
  # NixOS's driverConfiguration (nixos/lib/testing/driver-configuration.nix's
  # keys) with microvmtest's own "name" (logs, JUnit) and each vm's "vlans".
  driverConfiguration =
    {
      name ? "nixos-test",
      nodes,
      startScripts,
      testScriptFile,
      globalTimeout ? 3600,
    }:
    {
      inherit name;
      vms = builtins.mapAttrs (n: v: {
        inherit (v) name vlans;
        start_script = toString startScripts.${n};
      }) nodes;
      containers = { };
      vlans = unique (builtins.concatLists (map (v: v.vlans) (builtins.attrValues nodes)));
      global_timeout = globalTimeout;
      test_script = toString testScriptFile;
      enable_ssh_backdoor = false;
    };

  # The wrapper NixOS's run.nix calls as ${driver}/bin/nixos-test-driver.
  driverScript =
    {
      shell ? "/bin/sh",
      microvmtest ? "microvmtest",
      configFile,
      extraDriverArgs ? [ ],
    }:
    ''
      #!${shell}
      # nixos-test-driver - this test on microvmtest (made by microvmtest's nix/lib)
      exec ${q (toString microvmtest)} nixos-driver -c ${q (toString configFile)}${
        builtins.concatStringsSep "" (map (a: " " + q a) extraDriverArgs)
      } "$@"
    '';

  # mkTest DESCRIPTION: a whole test from node descriptions, built with
  # `writers` (default: builtinsWriters {}). Returns the start scripts, the
  # configuration (as a value and as a file) and the driver.
  mkTest =
    t:
    let
      where = "test \"${t.name or "?"}\"";
      ok = check.known where t testOptions;
      name = check.matches where "name" "[A-Za-z0-9_.+-]+" "a name of letters, digits, '.', '_', '+' or '-'" (
        t.name or (check.fail where "missing option \"name\"")
      );
      writers = t.writers or (builtinsWriters { });
      shell = t.shell or "/bin/sh";
      defaults = check.attrs where "defaults" (t.defaults or { });
      rawNodes = check.attrs where "nodes" (t.nodes or (check.fail where "missing option \"nodes\""));
      nodes = builtins.mapAttrs (n: v: normalise n (defaults // { inherit shell; } // check.attrs "node \"${n}\"" "nodes.${n}" v)) rawNodes;
      startScripts = builtins.mapAttrs (n: v: writers.writeScript "run-${v.name}-vm" (startScript v)) nodes;
      testScriptFile = writers.writeText "test-script" (
        check.str where "testScript" (t.testScript or (check.fail where "missing option \"testScript\""))
      );
      driverConfiguration' = driverConfiguration {
        inherit name nodes startScripts testScriptFile;
        globalTimeout = check.int where "globalTimeout" 1 2147483647 (t.globalTimeout or 3600);
      };
      configFile = writers.writeText "driverConfiguration.json" (builtins.toJSON driverConfiguration');
    in
    assert ok;
    assert
      rawNodes != { } || check.fail where "option \"nodes\": expected at least one node";
    {
      inherit nodes startScripts testScriptFile configFile;
      driverConfiguration = driverConfiguration';
      driver = writers.writeScriptBin "nixos-test-driver" (driverScript {
        inherit shell configFile;
        microvmtest = t.microvmtest or "microvmtest";
        extraDriverArgs = check.list where "extraDriverArgs" (t.extraDriverArgs or [ ]);
      });
    };
}
