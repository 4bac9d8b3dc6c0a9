import { describe, expect, test } from "bun:test";
import { dirname, join } from "node:path";

const SRC = join(import.meta.dir, "../../src");
const transpiler = new Bun.Transpiler({ loader: "ts" });

/**
 * Each module of src/ with the modules of src/ it imports when it loads. Type-only imports are
 * left out (they are gone once compiled), and so are dynamic imports (they load later, on purpose).
 */
async function importGraph(): Promise<Map<string, string[]>> {
  const files = new Set((await Array.fromAsync(new Bun.Glob("**/*.ts").scan(SRC))).filter((f) => !f.endsWith(".d.ts")));
  const resolve = (from: string, spec: string) => {
    const base = join(dirname(from), spec);
    return [base, `${base}.ts`, join(base, "index.ts")].find((candidate) => files.has(candidate));
  };
  const graph = new Map<string, string[]>();
  for (const file of files) {
    // A shebang (main.ts) is for the shell; the transpiler does not take it.
    const source = (await Bun.file(join(SRC, file)).text()).replace(/^#!.*/, "");
    const imports = transpiler.scanImports(source);
    const local = imports.filter((i) => i.kind === "import-statement" && i.path.startsWith(".")).map((i) => resolve(file, i.path));
    graph.set(file, [...new Set(local.filter((f): f is string => f !== undefined))]);
  }
  return graph;
}

/** The cycles a depth-first walk meets, each as the modules around it (the first one repeated at the end). */
function cyclesOf(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string) => {
    const at = path.indexOf(node);
    if (at !== -1) return void cycles.push([...path.slice(at), node]);
    if (done.has(node)) return;
    path.push(node);
    for (const next of graph.get(node) ?? []) visit(next);
    path.pop();
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) visit(node);
  return cycles;
}

describe("imports", () => {
  test("no module of src/ imports itself, directly or round a cycle", async () => {
    const graph = await importGraph();
    expect(graph.get("app.ts")).toContain("core/db/client.ts");
    expect(cyclesOf(graph)).toEqual([]);
  });

  test("the walk finds a cycle where there is one", () => {
    const graph = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts", "d.ts"]],
      ["d.ts", []],
    ]);
    expect(cyclesOf(graph)).toEqual([["a.ts", "b.ts", "c.ts", "a.ts"]]);
  });
});
