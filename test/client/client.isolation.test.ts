/**
 * The SDK stands alone: copied into a project whose only dependency is socket.io-client, it
 * type-checks for the browser and bundles with `bun build --target=browser`. An import of server
 * code (or of anything else) fails both.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "chat-client-"));
  await cp(join(ROOT, "src/client"), join(dir, "src"), { recursive: true });
  await mkdir(join(dir, "node_modules"));
  await symlink(join(ROOT, "node_modules/socket.io-client"), join(dir, "node_modules/socket.io-client"), "dir");
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "browser-app", private: true, type: "module", dependencies: { "socket.io-client": "^4.8.0" } }));
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "ESNext",
        moduleResolution: "bundler",
        lib: ["ES2022", "DOM"],
        types: [],
        strict: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        noEmit: true,
      },
      include: ["src"],
    }),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("src/client imports nothing but itself and socket.io-client", async () => {
  for (const file of await readdir(join(ROOT, "src/client"))) {
    const source = await Bun.file(join(ROOT, "src/client", file)).text();
    const imports = [...source.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]!);
    for (const spec of imports) expect(spec.startsWith("./") || spec === "socket.io-client" ? spec : `${file} imports ${spec}`).toBe(spec);
  }
});

test("type-checks for the browser with socket.io-client as the only dependency", async () => {
  const tsc = Bun.spawn([process.execPath, join(ROOT, "node_modules/typescript/bin/tsc"), "-p", dir], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(tsc.stdout).text(), new Response(tsc.stderr).text(), tsc.exited]);
  expect(`${out}${err}`).toBe("");
  expect(code).toBe(0);
}, 120_000);

test("bundles for the browser; the minified bundle, socket.io-client included, stays small", async () => {
  const build = await Bun.build({ entrypoints: [join(dir, "src/index.ts")], target: "browser", minify: true, format: "esm" });
  expect(build.logs.filter((l) => l.level === "error")).toEqual([]);
  expect(build.success).toBe(true);
  const bundle = await build.outputs[0]!.text();
  const gzipped = Bun.gzipSync(bundle).length;
  console.log(`client bundle: ${bundle.length} bytes minified, ${gzipped} gzipped`);
  expect(bundle).not.toContain("drizzle");
  expect(bundle.length).toBeLessThan(80 * 1024);
});
