# eval.nix - nix/lib's outputs for fixed descriptions, each case { got; want; }
# (tests/nix/run evaluates this with --eval --strict --json and compares).
let
  mtlib = import ../../nix/lib;
  n = mtlib.normalise;
  lines = s: builtins.filter (l: builtins.isString l && l != "") (builtins.split "\n" s);
  script = name: node: lines (mtlib.startScript (n name node));

  # A test made with writers that only record their text, so no derivation
  # is built: the configuration's file names are the writers' names.
  fakeWriters = {
    writeText = name: text: "/store/${name}";
    writeScript = name: text: "/store/${name}";
    writeScriptBin = name: text: { inherit name text; };
  };
  twoNodes = mtlib.mkTest {
    name = "two";
    writers = fakeWriters;
    microvmtest = "/bin/microvmtest";
    extraDriverArgs = [ "--interactive" ];
    defaults.kernel = "/k";
    nodes = {
      server.vlans = [
        1
        2
      ];
      "client-a" = {
        vlans = [ 2 ];
        memory = 256;
      };
      solo.vlans = [ ];
    };
    testScript = "start_all()";
  };
in
{
  defaults = {
    got = n "machine" { kernel = ./eval.nix; };
    want = {
      name = "machine";
      microvm = "microvm";
      kernel = toString ./eval.nix;
      initrd = null;
      cmdline = "console=ttyS0 panic=1";
      memory = 1024;
      cores = 1;
      vlans = [ 1 ];
      shares = [ ];
      disks = [ ];
      extraArgs = [ ];
      shell = "/bin/sh";
      path = null;
    };
  };

  minimal = {
    got = script "m" { kernel = "/boot/vmlinuz"; };
    want = [
      "#!/bin/sh"
      "# run-m-vm - node \"m\" on microvm (made by microvmtest's nix/lib)."
      "# microvmtest runs it in the node's state directory and appends its own"
      "# options (serial, console, the xchg and shared shares, networks) as \"$@\"."
      "set -e"
      "exec 'microvm' --kernel '/boot/vmlinuz' \\"
      "\t--cmdline 'console=ttyS0 panic=1' \\"
      "\t--memory 1024 \\"
      "\t--cpus 1 \\"
      "\t\"$@\""
    ];
  };

  # Every option; a quote in the command line stays one shell word.
  full = {
    got = script "server" {
      name = "srv";
      microvm = "/opt/bin/microvm";
      kernel = "/k";
      initrd = "/i";
      cmdline = "console=ttyS0 init=/init it's";
      memory = 2048;
      cores = 4;
      vlans = [ 3 ];
      shell = "/bin/bash";
      path = "/opt/e2fs/bin";
      shares = [
        {
          tag = "nix-store";
          path = "/nix/store";
          readonly = true;
        }
        {
          tag = "data";
          path = "/srv/data";
          privileged = true;
        }
      ];
      disks = [
        { file = "/images/base.img"; }
        {
          file = "/images/ro.img";
          readonly = true;
          serial = "ro";
        }
        {
          file = "./srv.img";
          serial = "root";
          create = {
            size = 512;
            mkfs = "mkfs.ext4 -q -L nixos";
            envVar = "NIX_DISK_IMAGE";
          };
        }
        {
          file = "empty0.img";
          create.size = 16;
        }
      ];
      extraArgs = [
        "--rng"
        "off"
      ];
    };
    want = [
      "#!/bin/bash"
      "# run-srv-vm - node \"srv\" on microvm (made by microvmtest's nix/lib)."
      "# microvmtest runs it in the node's state directory and appends its own"
      "# options (serial, console, the xchg and shared shares, networks) as \"$@\"."
      "set -e"
      "PATH='/opt/e2fs/bin':\"$PATH\""
      "export PATH"
      "disk2=\${NIX_DISK_IMAGE:-'./srv.img'}"
      "if [ ! -e \"$disk2\" ]; then"
      "\ttruncate -s 512M \"$disk2\""
      "\tmkfs.ext4 -q -L nixos \"$disk2\" >/dev/null"
      "fi"
      "disk3='empty0.img'"
      "if [ ! -e \"$disk3\" ]; then"
      "\ttruncate -s 16M \"$disk3\""
      "fi"
      "exec '/opt/bin/microvm' --kernel '/k' \\"
      "\t--initrd '/i' \\"
      "\t--cmdline 'console=ttyS0 init=/init it'\\''s' \\"
      "\t--memory 2048 \\"
      "\t--cpus 4 \\"
      "\t--share 'tag=nix-store,path=/nix/store,readonly' \\"
      "\t--share 'tag=data,path=/srv/data,privileged' \\"
      "\t--disk '/images/base.img,cow='\"$PWD\"/'disk0-srv.cow' \\"
      "\t--disk '/images/ro.img,readonly,serial=ro' \\"
      "\t--disk \"$disk2\"',serial=root' \\"
      "\t--disk \"$disk3\" \\"
      "\t'--rng' \\"
      "\t'off' \\"
      "\t\"$@\""
    ];
  };

  # NixOS's keys, every vm with its own vlans (default [1]), the top-level
  # vlans their union in order of the nodes' names.
  driverConfiguration = {
    got = twoNodes.driverConfiguration;
    want = {
      name = "two";
      vms = {
        client-a = {
          name = "client-a";
          start_script = "/store/run-client-a-vm";
          vlans = [ 2 ];
        };
        server = {
          name = "server";
          start_script = "/store/run-server-vm";
          vlans = [
            1
            2
          ];
        };
        solo = {
          name = "solo";
          start_script = "/store/run-solo-vm";
          vlans = [ ];
        };
      };
      containers = { };
      vlans = [
        2
        1
      ];
      global_timeout = 3600;
      test_script = "/store/test-script";
      enable_ssh_backdoor = false;
    };
  };

  defaultsApply = {
    got = map (v: v.memory) (builtins.attrValues twoNodes.nodes);
    want = [
      256
      1024
      1024
    ];
  };

  driver = {
    got = twoNodes.driver;
    want = {
      name = "nixos-test-driver";
      text = ''
        #!/bin/sh
        # nixos-test-driver - this test on microvmtest (made by microvmtest's nix/lib)
        exec '/bin/microvmtest' nixos-driver -c '/store/driverConfiguration.json' '--interactive' "$@"
      '';
    };
  };
}
