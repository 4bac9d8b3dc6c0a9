import { setDefaultTimeout } from "bun:test";

// Each test file starts its own service on a fresh database, and socket tests wait on real timers:
// on a loaded two-core CI machine Bun's 5 s default is too tight. (bunfig.toml has no such setting.)
setDefaultTimeout(30_000);
