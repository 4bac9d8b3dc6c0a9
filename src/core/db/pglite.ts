import { renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Extension, PGlite } from "@electric-sql/pglite";
// Imported as files so that `bun build --compile` embeds them in the binary; at run time each is a
// path (on disk under `bun run`, inside the binary's virtual filesystem when compiled).
import initdbWasm from "../../../node_modules/@electric-sql/pglite/dist/initdb.wasm" with { type: "file" };
import pgliteData from "../../../node_modules/@electric-sql/pglite/dist/pglite.data" with { type: "file" };
import pgliteWasm from "../../../node_modules/@electric-sql/pglite/dist/pglite.wasm" with { type: "file" };
import unaccentBundle from "../../../node_modules/@electric-sql/pglite/dist/unaccent.tar.gz" with { type: "file" };

let modules: Promise<{ pglite: WebAssembly.Module; initdb: WebAssembly.Module }> | undefined;

const compile = async (path: string) => WebAssembly.compile(await Bun.file(path).arrayBuffer());

/** Compiled once per process: tests open many embedded databases. */
function compileModules() {
  modules ??= Promise.all([compile(pgliteWasm), compile(initdbWasm)]).then(([pglite, initdb]) => ({ pglite, initdb }));
  return modules;
}

/**
 * Message search folds accents with the unaccent extension (created by the search_text_function
 * migration). PGlite's own `contrib/unaccent` finds its bundle relative to the package, which a
 * compiled binary does not have; this one starts from the copy the binary embeds.
 */
const unaccent: Extension = { name: "unaccent", setup: async () => ({ bundlePath: await onDisk(unaccentBundle) }) };

/**
 * PGlite reads extension bundles with node:fs streams, which cannot open the files embedded in a
 * compiled binary: the bundle is copied to the temp folder. A copy already there is used only if
 * it holds the same bytes (the folder may be shared with other users).
 */
async function onDisk(path: string): Promise<URL> {
  const bytes = await Bun.file(path).bytes();
  const copy = join(tmpdir(), `chat-service-${Bun.hash(bytes).toString(36)}-${basename(path)}`);
  const existing = Bun.file(copy);
  if (!(await existing.exists()) || !Buffer.from(await existing.bytes()).equals(bytes)) {
    const partial = `${copy}.${process.pid}`;
    await Bun.write(partial, bytes);
    renameSync(partial, copy);
  }
  return pathToFileURL(copy);
}

/** `seed`: a data directory dump to start from (tests clone one migrated database many times). */
export async function openPglite(dataDir: string, seed?: Blob): Promise<PGlite> {
  const { pglite, initdb } = await compileModules();
  const client = new PGlite({
    dataDir: dataDir === "memory://" ? undefined : dataDir,
    loadDataDir: seed,
    pgliteWasmModule: pglite,
    initdbWasmModule: initdb,
    fsBundle: Bun.file(pgliteData),
    extensions: { unaccent },
  });
  await client.waitReady;
  return client;
}
