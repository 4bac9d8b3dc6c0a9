import { afterAll, setDefaultTimeout } from "bun:test";
import { stopAllServers } from "./servers";

// Each test file starts its own service on a fresh database, and socket tests wait on real timers:
// on a loaded two-core CI machine Bun's 5 s default is too tight. (bunfig.toml has no such setting,
// and this call reaches only the first file of a run, oven-sh/bun#43787: `bun run test` passes
// --timeout 30000 for every file.)
setDefaultTimeout(30_000);

// After the last test file: the PostgreSQL and Redis servers the tests started (see servers.ts).
afterAll(stopAllServers);
