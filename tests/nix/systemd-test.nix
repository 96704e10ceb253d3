# systemd-test.nix - a two-node test built with nix/lib alone against the
# Debian reference guest (build/guest/systemd), run by
# tests/driver/systemd/run's nix-systemd case through the result's
# driverConfiguration (`microvmtest nixos-driver -c`). The paths are strings
# so that the guest's images are used where they are, not copied to the store.
#   tests/nix/nix nix-build tests/nix/systemd-test.nix -A driver \
#     --argstr microvm $B/microvm --argstr microvmtest $B/microvmtest \
#     --argstr guest $PWD/build/guest/systemd --argstr data DIR
{
  microvm,
  microvmtest,
  guest,
  data, # a directory holding "token", shared read-only as tag "data"
}:
let
  mtlib = import ../../nix/lib;
  node = cmdline: {
    inherit microvm;
    kernel = "${guest}/vmlinuz";
    initrd = "${guest}/initrd.img";
    cmdline = "console=ttyS0 panic=1 quiet tiny.root=/dev/vda ${cmdline}";
    # The base image is only read: writes go to disk0-NAME.cow in the
    # node's state directory.
    disks = [ { file = "${guest}/rootfs.img"; } ];
  };
in
mtlib.mkTest {
  name = "nix-systemd";
  inherit microvmtest;
  globalTimeout = 900;
  nodes = {
    client = node "" // {
      memory = 384;
      cores = 2;
      shares = [
        {
          tag = "data";
          path = data;
          readonly = true;
        }
      ];
    };
    server = node "systemd.wants=hello.service" // {
      memory = 320;
    };
  };
  testScript = ''
    start_all()
    server.wait_for_unit("hello.service")
    server.wait_for_open_port(8000)
    client.wait_for_unit("multi-user.target")
    with subtest("the start script's memory and cores"):
        t.assertEqual(client.succeed("nproc").strip(), "2")
        kib = int(client.succeed("awk '/MemTotal/ { print $2 }' /proc/meminfo"))
        assert 300 * 1024 < kib <= 384 * 1024, f"MemTotal {kib} kB, expected about 384 MiB"
        t.assertEqual(server.succeed("nproc").strip(), "1")
    with subtest("the node description's share"):
        client.succeed("mkdir -p /mnt/data",
                       "mount -t 9p -o trans=virtio,version=9p2000.L,ro data /mnt/data")
        t.assertEqual(client.succeed("cat /mnt/data/token").strip(), "NIX-SHARE-TOKEN")
    with subtest("vlan 1 from the driver configuration"):
        # client is node 1, server node 2 (alphabetical, as NixOS numbers them)
        page = client.wait_until_succeeds(
            "curl -sf --connect-timeout 2 --max-time 4 http://192.168.1.2:8000/", timeout=120)
        assert "Hello world" in page, f"got {page!r}"
    with subtest("the base image is not written"):
        server.succeed("echo changed > /etc/written-by-nix-test", "sync")
  '';
}
