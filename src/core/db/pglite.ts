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
 * Message search folds accents with the unaccent extension (the search_text_function migration). PGlite's own
 * `contrib/unaccent` finds its bundle relative to the package, which a compiled binary does not
 * have; this one points at the embedded copy.
 */
const unaccent: Extension = { name: "unaccent", setup: async () => ({ bundlePath: pathToFileURL(unaccentBundle) }) };

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
