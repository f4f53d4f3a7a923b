# The Chainfire package: the npm workspace built with tsc, pruned to production
# dependencies, with `chainfire` (the member) and every other workspace `bin` wrapped
# around Node 20.
#
# Dependencies come from package-lock.json through importNpmLock, so there is no
# npmDepsHash to keep in sync: every tarball is fetched by the lock's own integrity hash
# (from the registry URL npm-lock.nix fills in: the repository's locks carry none).
# importNpmLock runs `npm install` over a lock whose workspace links it rewrote; should a
# nixpkgs release mishandle the workspace links, build with the classic fixed-output
# cache instead: `chainfire.override { npmDepsHash = "sha256-..."; }` (nix prints the
# hash on the first try with lib.fakeHash).
#
# RocksDB: @nxtedition/rocksdb ships a prebuilt N-API addon for linux-x64
# (prebuilds/linux-x64/*.node, linked against libstdc++). Install scripts are skipped
# (they would try the prebuild, then fall back to a from-source build that needs the
# network), and autoPatchelfHook points the prebuild at Nix's libstdc++.
{
  lib,
  stdenv,
  buildNpmPackage,
  importNpmLock,
  nodejs_20,
  makeWrapper,
  autoPatchelfHook,
  jq,
  npmDepsHash ? null,
}:

let
  inherit (lib) elem hasPrefix hasSuffix;
  root = ../.;
  rootPackage = lib.importJSON (root + "/package.json");
  topLevel = [
    "package.json"
    "package-lock.json"
    "tsconfig.json"
    "tsconfig.base.json"
    "packages"
  ];
in
buildNpmPackage (
  {
    pname = "chainfire";
    inherit (rootPackage) version;

    # Only what the build reads: a change to docs/, deploy/ or nix/ does not rebuild it.
    src = lib.cleanSourceWith {
      name = "chainfire-source";
      src = root;
      filter =
        path: type:
        let
          rel = lib.removePrefix (toString root + "/") (toString path);
          base = baseNameOf path;
        in
        !(elem base [
          "node_modules"
          "dist"
          "data"
          "coverage"
        ])
        && !(hasSuffix ".tsbuildinfo" base)
        && (elem rel topLevel || hasPrefix "packages/" rel);
    };

    nodejs = nodejs_20;
  }
  // (
    if npmDepsHash == null then
      {
        npmDeps = importNpmLock {
          npmRoot = root;
          packageLock = import ./npm-lock.nix { inherit lib; } (lib.importJSON (root + "/package-lock.json"));
        };
        npmConfigHook = importNpmLock.npmConfigHook;
      }
    else
      { inherit npmDepsHash; }
  )
  // {
    npmFlags = [ "--ignore-scripts" ];
    # The member and the CLI (and what they import); the root `tsc -b` also checks test/.
    dontNpmBuild = true;
    buildPhase = ''
      runHook preBuild
      node_modules/.bin/tsc -b packages/server packages/client
      runHook postBuild
    '';

    nativeBuildInputs = [
      makeWrapper
      autoPatchelfHook
      jq
    ];
    # libstdc++ and libgcc_s for the RocksDB prebuild.
    buildInputs = [ stdenv.cc.cc.lib ];

    # The workspace root is private and has no "files": install the tree ourselves.
    installPhase = ''
      runHook preInstall

      npm prune --omit=dev --no-audit --no-fund --ignore-scripts
      rocksdb=node_modules/@nxtedition/rocksdb
      # Keep only this platform's prebuild; drop the bundled C++ sources.
      find "$rocksdb/prebuilds" -mindepth 1 -maxdepth 1 ! -name 'linux-x64' -exec rm -rf {} +
      rm -rf "$rocksdb/deps" "$rocksdb/prebuilds.zip"

      app=$out/lib/chainfire
      mkdir -p "$app/packages" "$out/bin"
      cp -r node_modules "$app/"
      # importNpmLock's hook swapped in a package.json naming store paths: ship the
      # original, and no hidden lockfile (it would keep every tarball in the closure).
      if [ -f .package.json.orig ]; then cp .package.json.orig "$app/package.json"; else cp package.json "$app/"; fi
      rm -f "$app/node_modules/.package-lock.json"
      for pkg in packages/*; do
        mkdir -p "$app/$pkg"
        cp "$pkg/package.json" "$app/$pkg/"
        cp -r "$pkg/dist" "$app/$pkg/"
      done

      # One wrapper per workspace "bin" (chainfire from @chainfire/server, chainfirectl
      # from @chainfire/client, whatever their package.json files declare).
      for pkg in packages/*; do
        jq -r '(.bin // {}) | if type == "string" then {} else . end | to_entries[] | "\(.key) \(.value)"' \
          "$pkg/package.json" |
        while read -r name target; do
          makeWrapper ${lib.getExe nodejs_20} "$out/bin/$name" \
            --add-flags "$app/$pkg/$target" \
            --set-default NODE_ENV production
        done
      done
      test -x "$out/bin/chainfire" || { echo "no chainfire bin in packages/server/package.json" >&2; exit 1; }

      runHook postInstall
    '';

    doInstallCheck = true;
    installCheckPhase = ''
      runHook preInstallCheck
      # The addon loads (autoPatchelf worked) and the member answers --help.
      (cd $out/lib/chainfire && ${lib.getExe nodejs_20} -e 'require("@nxtedition/rocksdb")')
      $out/bin/chainfire --help >/dev/null
      runHook postInstallCheck
    '';

    passthru.nodejs = nodejs_20;

    meta = {
      description = "A Raft-replicated key-value cluster that speaks the etcd v3 gRPC API";
      license = lib.licenses.asl20;
      mainProgram = "chainfire";
      platforms = [ "x86_64-linux" ];
    };
  }
)
