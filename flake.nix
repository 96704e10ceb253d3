# microvm and microvmtest for Nix users: the package, an overlay, the NixOS
# modules that run a NixOS test on microvmtest (nixosModules.test) and boot
# a NixOS configuration on microvm (nixosModules.guest), and nix/lib, the
# builtins-only library both use. See docs/nix.md for what was run here.
{
  description = "microvm, a small KVM monitor, and microvmtest, a NixOS-style test driver on it";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      build = pkgs: pkgs.callPackage ./nix/package.nix { src = self; };
    in
    {
      lib = import ./nix/lib;

      overlays.default = final: _prev: { microvmtest = build final; };

      packages = forAll (pkgs: rec {
        microvmtest = build pkgs;
        default = microvmtest;
      });

      nixosModules.guest =
        { config, lib, ... }:
        {
          imports = [ ./nix/modules/guest.nix ];
          # microvm runs on the host that starts the node.
          microvmtest.package = lib.mkDefault
            self.packages.${config.virtualisation.host.pkgs.stdenv.hostPlatform.system}.default;
        };

      nixosModules.test = import ./nix/modules/test.nix {
        guestModule = ./nix/modules/guest.nix;
        defaultPackage = system: self.packages.${system}.default;
      };
    };
}
