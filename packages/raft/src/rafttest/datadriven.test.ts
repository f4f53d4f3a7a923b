import { describe, expect, it } from "vitest";
import { parseCommand, parseFile, rewriteFile } from "./datadriven.js";

describe("datadriven", () => {
  it("parses commands with plain, keyed and list arguments", () => {
    expect(parseCommand("add-nodes 3 voters=(1,2,3) learners=() index=2")).toEqual({
      cmd: "add-nodes",
      args: [
        { key: "3", vals: [] },
        { key: "voters", vals: ["1", "2", "3"] },
        { key: "learners", vals: [] },
        { key: "index", vals: ["2"] },
      ],
    });
    expect(parseCommand("partition (1 2) (3)").args).toEqual([
      { key: "(1 2)", vals: [] },
      { key: "(3)", vals: [] },
    ]);
  });

  it("round-trips a file when every output is unchanged", () => {
    const file = [
      "# comment",
      "",
      "cmd a",
      "input",
      "----",
      "out1",
      "out2",
      "",
      "",
      "# another",
      "cmd b",
      "----",
      "----",
      "x",
      "",
      "y",
      "----",
      "----",
      "",
      "cmd c",
      "----",
      "ok",
      "",
    ].join("\n");
    const chunks = parseFile(file);
    expect(
      chunks.filter((c) => c.kind === "case").map((c) => (c.kind === "case" ? c.tc.expected : "")),
    ).toEqual(["out1\nout2", "x\n\ny", "ok"]);
    expect(rewriteFile(file, (tc) => tc.expected)).toBe(file);
  });

  it("rewrites outputs and frames blank lines", () => {
    const got = rewriteFile("cmd a\n----\nold\n\ncmd b\n----\nold\n", (tc) =>
      tc.args[0].key === "a" ? "new" : "p\n\nq",
    );
    expect(got).toBe("cmd a\n----\nnew\n\ncmd b\n----\n----\np\n\nq\n----\n----\n");
  });
});
