import { expect, test } from "bun:test";
import { dirname, join, relative, resolve } from "node:path";
import { Glob } from "bun";

/**
 * No module of src/ imports itself back through others: a cycle makes the order modules load in
 * decide whether a value is defined yet. Type-only imports are erased, so they do not count.
 */
const src = resolve(import.meta.dir, "../../src");

async function runtimeImports(): Promise<Map<string, string[]>> {
  const files = [...new Glob("**/*.ts").scanSync(src)].map((f) => join(src, f));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = await Bun.file(file).text();
    const deps = [...text.matchAll(/^import\s+(?!type\b)[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)].map(([, spec]) => {
      const path = resolve(dirname(file), spec!);
      return known.has(`${path}.ts`) ? `${path}.ts` : join(path, "index.ts");
    });
    graph.set(file, deps);
  }
  return graph;
}

test("src/ has no import cycle", async () => {
  const graph = await runtimeImports();
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === "open") cycles.push([...path.slice(path.indexOf(dep)), dep].map((f) => relative(src, f)).join(" → "));
      else if (!state.has(dep)) visit(dep);
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  expect(graph.size).toBeGreaterThan(50);
  expect(cycles).toEqual([]);
});
