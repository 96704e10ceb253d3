# check.nix - validation of the node and test descriptions (builtins only).
# Every error is one `throw` naming where ("node \"server\"") and the option,
# so a typo in a description stops the evaluation with its own name.
rec {
  fail = where: msg: throw "microvmtest: ${where}: ${msg}";

  typeName = v: builtins.typeOf v;

  # known WHERE ATTRS NAMES: no attribute outside NAMES (a misspelt option).
  known =
    where: attrs: names:
    let
      bad = builtins.filter (n: !(builtins.elem n names)) (builtins.attrNames attrs);
    in
    if bad == [ ] then
      true
    else
      fail where "unknown option \"${builtins.head bad}\" (expected one of: ${builtins.concatStringsSep ", " names})";

  isPathLike = v: builtins.isPath v || builtins.isString v || (builtins.isAttrs v && v ? outPath);

  # A file option: a path, a string or a derivation, never empty.
  file =
    where: opt: v:
    if !(isPathLike v) then
      fail where "option \"${opt}\": expected a path or a string, got a ${typeName v}"
    else if toString v == "" then
      fail where "option \"${opt}\": expected a path, got an empty string"
    else
      toString v;

  str =
    where: opt: v:
    if builtins.isString v then v else fail where "option \"${opt}\": expected a string, got a ${typeName v}";

  bool =
    where: opt: v:
    if builtins.isBool v then v else fail where "option \"${opt}\": expected true or false, got a ${typeName v}";

  int =
    where: opt: lo: hi: v:
    if !(builtins.isInt v) then
      fail where "option \"${opt}\": expected an integer from ${toString lo} to ${toString hi}, got a ${typeName v}"
    else if v < lo || v > hi then
      fail where "option \"${opt}\": expected an integer from ${toString lo} to ${toString hi}, got ${toString v}"
    else
      v;

  list =
    where: opt: v:
    if builtins.isList v then v else fail where "option \"${opt}\": expected a list, got a ${typeName v}";

  attrs =
    where: opt: v:
    if builtins.isAttrs v then v else fail where "option \"${opt}\": expected an attribute set, got a ${typeName v}";

  # matches WHERE OPT REGEX WHAT V: V (a string) matches REGEX, else WHAT is expected.
  matches =
    where: opt: re: what: v:
    if builtins.match re (str where opt v) != null then
      v
    else
      fail where "option \"${opt}\": expected ${what}, got \"${v}\"";

  # Node names as microvmtest accepts them (and NixOS's hostnames).
  nodeName =
    where: v:
    if builtins.isString v && builtins.match "[A-Za-z0-9_-]{1,63}" v != null then
      v
    else
      fail where "node names are 1 to 63 letters, digits, '_' or '-'";
}
