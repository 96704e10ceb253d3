# node.nix - one node description checked and turned into its start script:
# microvm with the node's own boot options, then "$@", where microvmtest's
# driver appends its serial, console, xchg/shared shares and networks
# (docs/test-json.md, "start_script"). Builtins only.
{ check }:
rec {
  nodeOptions = [
    "name"
    "microvm"
    "kernel"
    "initrd"
    "cmdline"
    "memory"
    "cores"
    "vlans"
    "shares"
    "disks"
    "extraArgs"
    "shell"
    "path"
  ];
  shareOptions = [
    "tag"
    "path"
    "readonly"
    "privileged"
  ];
  diskOptions = [
    "file"
    "readonly"
    "serial"
    "cow"
    "create"
  ];
  createOptions = [
    "size"
    "mkfs"
    "envVar"
  ];

  # q S: S as one single-quoted shell word.
  q = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";

  noComma =
    where: opt: v:
    if builtins.match ".*,.*" v == null then
      v
    else
      check.fail where "option \"${opt}\": \"${v}\" has a ',', which microvm's option syntax cannot carry";

  share =
    where: i: s:
    let
      w = "${where}, shares[${toString i}]";
      tag = check.matches w "tag" "[A-Za-z0-9_.-]{1,64}" "1 to 64 of A-Z a-z 0-9 _ . -" (
        s.tag or (check.fail w "missing option \"tag\"")
      );
    in
    assert check.known w (check.attrs where "shares[${toString i}]" s) shareOptions;
    assert
      !(builtins.elem tag [
        "xchg"
        "shared"
      ])
      || check.fail w "option \"tag\": \"${tag}\" is the driver's own share (it adds xchg and shared itself)";
    {
      inherit tag;
      path = noComma w "path" (check.file w "path" (s.path or (check.fail w "missing option \"path\"")));
      readonly = check.bool w "readonly" (s.readonly or false);
      privileged = check.bool w "privileged" (s.privileged or false);
    };

  create =
    w: c:
    assert check.known "${w}, create" (check.attrs w "create" c) createOptions;
    {
      size = check.int "${w}, create" "size" 1 16777216 (c.size or (check.fail "${w}, create" "missing option \"size\" (MiB)"));
      mkfs = if (c.mkfs or null) == null then null else check.str "${w}, create" "mkfs" c.mkfs;
      envVar =
        if (c.envVar or null) == null then
          null
        else
          check.matches "${w}, create" "envVar" "[A-Za-z_][A-Za-z0-9_]*" "a shell variable name" c.envVar;
    };

  disk =
    where: i: d:
    let
      w = "${where}, disks[${toString i}]";
    in
    assert check.known w (check.attrs where "disks[${toString i}]" d) diskOptions;
    let
      c = if (d.create or null) == null then null else create w d.create;
      readonly = check.bool w "readonly" (d.readonly or false);
    in
    assert
      !(c != null && readonly)
      || check.fail w "option \"create\": a disk made at start is written, it cannot be readonly";
    {
      inherit readonly;
      create = c;
      file = noComma w "file" (check.file w "file" (d.file or (check.fail w "missing option \"file\"")));
      serial =
        if (d.serial or null) == null then
          null
        else
          check.matches w "serial" "[^ ,=]{1,20}" "1 to 20 characters without ' ', ',' or '='" d.serial;
      # A base image is never written: its writes go to a file in the node's
      # state directory, as the driver does for its own "disks".
      cow = check.bool w "cow" (d.cow or (c == null));
    };

  # normalise NAME DESCRIPTION: the node with every option checked and defaulted
  # (NixOS's defaults: 1024 MiB, one core, vlan 1).
  normalise =
    key: n:
    let
      where = "node \"${key}\"";
      opt = o: n.${o} or (check.fail where "missing option \"${o}\"");
    in
    assert check.known where n nodeOptions;
    let
      r = {
        name = check.nodeName where (n.name or key);
        microvm = check.file where "microvm" (n.microvm or "microvm");
        kernel = check.file where "kernel" (opt "kernel");
        initrd = if (n.initrd or null) == null then null else check.file where "initrd" n.initrd;
        cmdline = check.str where "cmdline" (n.cmdline or "console=ttyS0 panic=1");
        memory = check.int where "memory" 16 1048576 (n.memory or 1024);
        cores = check.int where "cores" 1 64 (n.cores or 1);
        vlans = map (check.int where "vlans" 0 255) (check.list where "vlans" (n.vlans or [ 1 ]));
        shares = builtins.genList (i: share where i (builtins.elemAt n.shares i)) (
          builtins.length (check.list where "shares" (n.shares or [ ]))
        );
        disks = builtins.genList (i: disk where i (builtins.elemAt n.disks i)) (
          builtins.length (check.list where "disks" (n.disks or [ ]))
        );
        extraArgs = map (check.str where "extraArgs") (check.list where "extraArgs" (n.extraArgs or [ ]));
        shell = check.str where "shell" (n.shell or "/bin/sh");
        path = if (n.path or null) == null then null else check.str where "path" n.path;
      };
    in
    # Every option checked now, not when (or if) the script uses it.
    builtins.deepSeq r r;

  # The shell word for disk I: its file, or the variable overriding it.
  diskVar = i: "disk${toString i}";

  diskWord =
    node: i: d:
    let
      opts =
        (if d.readonly then ",readonly" else "")
        + (if d.serial != null then ",serial=${d.serial}" else "");
      cow = d.cow && !d.readonly;
      cowFile = if cow then "\"$PWD\"/${q "disk${toString i}-${node.name}.cow"}" else "";
      rest = opts + (if cow then ",cow=" else "");
    in
    if d.create != null then
      "\"\$${diskVar i}\"" + (if rest == "" then "" else q rest) + cowFile
    else
      q (d.file + rest) + cowFile;

  # Disks made at start (NixOS's NIX_DISK_IMAGE): a sparse file, formatted
  # by `mkfs` when given, kept in the state directory across restarts.
  createLines =
    i: d:
    let
      v = diskVar i;
      c = d.create;
      dflt = q d.file;
    in
    if c == null then
      ""
    else
      (if c.envVar == null then "${v}=${dflt}\n" else "${v}=\${${c.envVar}:-${dflt}}\n")
      + "if [ ! -e \"\$${v}\" ]; then\n"
      + "\ttruncate -s ${toString c.size}M \"\$${v}\"\n"
      + (if c.mkfs == null then "" else "\t${c.mkfs} \"\$${v}\" >/dev/null\n")
      + "fi\n";

  # microvmArgs NODE: microvm's options for the node, one option and its
  # value (as shell words) each.
  microvmArgs =
    n:
    [
      "--kernel ${q n.kernel}"
    ]
    ++ (if n.initrd == null then [ ] else [ "--initrd ${q n.initrd}" ])
    ++ [
      "--cmdline ${q n.cmdline}"
      "--memory ${toString n.memory}"
      "--cpus ${toString n.cores}"
    ]
    ++ map (
      s:
      "--share "
      + q "tag=${s.tag},path=${s.path}${if s.readonly then ",readonly" else ""}${
        if s.privileged then ",privileged" else ""
      }"
    ) n.shares
    ++ builtins.genList (i: "--disk ${diskWord n i (builtins.elemAt n.disks i)}") (builtins.length n.disks)
    ++ map q n.extraArgs;

  # startScript NODE: the text of run-NAME-vm (NODE as `normalise` returns it).
  startScript = n: ''
    #!${n.shell}
    # run-${n.name}-vm - node "${n.name}" on microvm (made by microvmtest's nix/lib).
    # microvmtest runs it in the node's state directory and appends its own
    # options (serial, console, the xchg and shared shares, networks) as "$@".
    set -e
    ${if n.path == null then "" else "PATH=${q n.path}:\"$PATH\"\nexport PATH\n"}${
      builtins.concatStringsSep "" (builtins.genList (i: createLines i (builtins.elemAt n.disks i)) (builtins.length n.disks))
    }exec ${q n.microvm} ${builtins.concatStringsSep " \\\n\t" (microvmArgs n)} \
    	"$@"
  '';
}
