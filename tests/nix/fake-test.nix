# fake-test.nix - a test built with nix/lib's builtins writers and run by
# tests/nix/run through `microvmtest nixos-driver -c` on the driver's
# fake-microvm (no KVM: seconds), which records the arguments it got.
{
  microvm, # tests/driver/fake-microvm
  microvmtest,
  kernel, # any file: the fake only prints its name
}:
(import ../../nix/lib).mkTest {
  name = "nix-fake";
  inherit microvmtest;
  globalTimeout = 60;
  defaults = {
    inherit microvm kernel;
  };
  nodes = {
    a = {
      cmdline = "console=ttyS0 fake.units=hello.service:active";
      memory = 256;
      cores = 2;
      path = "/usr/sbin:/sbin"; # mkfs.ext4
      shares = [
        {
          tag = "data";
          path = "/srv/data";
          readonly = true;
        }
      ];
      disks = [
        {
          file = "./a.img";
          serial = "root";
          create = {
            size = 16;
            mkfs = "mkfs.ext4 -q -L nixos";
            envVar = "NIX_DISK_IMAGE";
          };
        }
      ];
    };
    b.vlans = [
      1
      2
    ];
  };
  testScript = ''
    start_all()
    a.wait_for_unit("hello.service")
    t.assertEqual(b.succeed("echo hi"), "hi\n")
  '';
}
