# package-lock.json with a registry URL on every registry package. The repository's npm
# configuration writes locks without `resolved` (omit-lockfile-registry-resolved), but
# importNpmLock fetches only what has one. npm's own rule fills them in:
#   node_modules/<name> at <version>  ->  <registry>/<name>/-/<basename of name>-<version>.tgz
# (the lock's `integrity` still pins every tarball). Workspace links and entries that
# already say where they come from are left alone, and so are other platforms' optional
# builds listed without an integrity (the project's npm mirror does not serve them; the
# lock lists them only so that `npm ci` accepts it): importNpmLock skips them.
{ lib }:

lock:
let
  inherit (lib)
    hasInfix
    hasPrefix
    last
    mapAttrs
    splitString
    ;
  registry = "https://registry.npmjs.org";
  tarballUrl =
    path: entry:
    let
      name = entry.name or (last (splitString "node_modules/" path));
      base = last (splitString "/" name);
    in
    "${registry}/${name}/-/${base}-${entry.version}.tgz";
  needsUrl =
    path: entry:
    (hasPrefix "node_modules/" path || hasInfix "/node_modules/" path)
    && !(entry ? resolved)
    && !(entry.link or false)
    && entry ? version
    && entry ? integrity;
in
lock
// {
  packages = mapAttrs (
    path: entry: if needsUrl path entry then entry // { resolved = tarballUrl path entry; } else entry
  ) lock.packages;
}
