/**
 * Import rules from ../shared/DESIGN.md "Layout and dependency direction":
 *   server -> raft, storage, api;  client -> api;  storage -> raft (types only);  raft -> nothing.
 * Nothing imports server. No cycles anywhere.
 */
const pkg = (name) => `^packages/${name}/`;
module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", from: {}, to: { circular: true } },
    {
      name: "raft-imports-nothing",
      comment: "packages/raft is pure: no node:* modules, no other packages, no npm dependencies",
      severity: "error",
      // bench/ and scripts/ hold command-line entry points (node:process, clocks); src/ stays pure.
      from: { path: pkg("raft"), pathNot: "^packages/raft/(bench|scripts)/" },
      to: { pathNot: [pkg("raft")] },
    },
    {
      name: "api-imports-no-chainfire-package",
      severity: "error",
      from: { path: pkg("api") },
      to: { path: "^packages/(raft|storage|server|client)/" },
    },
    {
      name: "storage-only-raft",
      severity: "error",
      from: { path: pkg("storage") },
      to: { path: "^packages/(api|server|client)/" },
    },
    {
      name: "client-only-api",
      severity: "error",
      from: { path: pkg("client") },
      to: { path: "^packages/(raft|storage|server)/" },
    },
    {
      name: "nothing-imports-server",
      severity: "error",
      from: { pathNot: [pkg("server"), "^test/"] },
      to: { path: pkg("server") },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(dist|node_modules)/" },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    tsConfig: { fileName: "tsconfig.base.json" },
    enhancedResolveOptions: {
      conditionNames: ["source", "import", "node", "default"],
      exportsFields: ["exports"],
    },
  },
};
