/**
 * A reader and rewriter for data-driven test files in the format of
 * cockroachdb/datadriven (as used by etcd-io/raft's testdata/*.txt):
 *
 * ```
 * # a comment
 * command arg key=value key=(a,b)
 * optional input lines
 * ----
 * expected output
 * (a blank line ends the case)
 * ```
 *
 * Output that itself contains blank lines is framed by a doubled separator
 * (`----` `----` output `----` `----`). Running a file means running each command and
 * writing the file back with fresh outputs: the test compares that text with the file.
 */

/** One argument: `key`, `key=value` or `key=(v1,v2)`. */
export interface CmdArg {
  key: string;
  vals: string[];
}

export interface TestCase {
  /** The line number (1-based) of the command, for error messages. */
  line: number;
  cmd: string;
  args: CmdArg[];
  /** The lines between the command and the separator, joined by "\n". */
  input: string;
  /** The command line and input lines exactly as written. */
  header: string[];
  expected: string;
}

type Chunk = { kind: "text"; lines: string[] } | { kind: "case"; tc: TestCase };

/** Splits a file into verbatim text (comments, blank lines) and test cases. */
export function parseFile(text: string): Chunk[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const chunks: Chunk[] = [];
  let textBuf: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i];
    if (l.trim() === "" || l.startsWith("#")) {
      textBuf.push(l);
      i++;
      continue;
    }
    if (textBuf.length > 0) {
      chunks.push({ kind: "text", lines: textBuf });
      textBuf = [];
    }
    const start = i;
    const header = [l];
    i++;
    while (i < lines.length && lines[i] !== "----") header.push(lines[i++]);
    if (i >= lines.length) throw new Error(`line ${start + 1}: command without "----"`);
    i++; // the separator
    const out: string[] = [];
    if (i < lines.length && lines[i] === "----") {
      // Doubled separator: output runs until "----" "----".
      i++;
      while (i < lines.length && !(lines[i] === "----" && lines[i + 1] === "----"))
        out.push(lines[i++]);
      i += 2;
      if (i < lines.length && lines[i] === "") i++;
    } else {
      while (i < lines.length && lines[i] !== "") out.push(lines[i++]);
      if (i < lines.length) i++; // the blank line that ends the case
    }
    const { cmd, args } = parseCommand(l, start + 1);
    chunks.push({
      kind: "case",
      tc: {
        line: start + 1,
        cmd,
        args,
        input: header.slice(1).join("\n"),
        header,
        expected: out.join("\n"),
      },
    });
  }
  if (textBuf.length > 0) chunks.push({ kind: "text", lines: textBuf });
  return chunks;
}

/** Parses `cmd a b=1 c=(x,y)`; values in parentheses split on commas or spaces. */
export function parseCommand(line: string, lineNo = 0): { cmd: string; args: CmdArg[] } {
  const tokens: string[] = [];
  let cur = "";
  let depth = 0;
  for (const ch of line.trim()) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === " " && depth === 0) {
      if (cur !== "") tokens.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (depth !== 0) throw new Error(`line ${lineNo}: unbalanced parentheses`);
  if (cur !== "") tokens.push(cur);
  const [cmd, ...rest] = tokens;
  const args = rest.map((t): CmdArg => {
    const eq = t.indexOf("=");
    if (eq < 0) return { key: t, vals: [] };
    const key = t.slice(0, eq);
    let v = t.slice(eq + 1);
    if (v.startsWith("(") && v.endsWith(")")) {
      v = v.slice(1, -1).trim();
      return { key, vals: v === "" ? [] : v.split(/[ ,]+/) };
    }
    return { key, vals: [v] };
  });
  return { cmd, args };
}

/**
 * Runs every case of a file through `run` and returns the file with each output replaced
 * by what `run` returned (the golden text the file should contain).
 */
export function rewriteFile(text: string, run: (tc: TestCase) => string): string {
  const out: string[] = [];
  const chunks = parseFile(text);
  for (let c = 0; c < chunks.length; c++) {
    const ch = chunks[c];
    if (ch.kind === "text") {
      out.push(...ch.lines);
      continue;
    }
    let result = run(ch.tc).replace(/\n+$/, "");
    if (result === "") result = "ok";
    out.push(...ch.tc.header);
    if (result.split("\n").some((l) => l.trim() === "")) {
      out.push("----", "----", result, "----", "----");
    } else {
      out.push("----", result);
    }
    // A blank line ends a case (parseFile consumed it); the next text chunk holds the rest.
    if (c + 1 < chunks.length) out.push("");
  }
  let s = out.join("\n");
  if (!s.endsWith("\n")) s += "\n";
  return s;
}
