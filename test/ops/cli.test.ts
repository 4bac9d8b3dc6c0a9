import { afterAll, describe, expect, test } from "bun:test";
import pkg from "../../package.json";
import { ENV } from "../../src/config";
import { freshDatabase } from "../helpers/service";
import { binaryEnv, isolatedBinary, type LogLine, runBinary } from "./binary";

const { dir, binary, cleanup } = isolatedBinary();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
  cleanup();
});

const run = (args: string[], env: Record<string, string> = {}) => runBinary(binary, dir, args, env);
const logLines = (text: string) => text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as LogLine);

describe("command line of the compiled binary", () => {
  test("--version prints the package version", async () => {
    const { code, stdout } = await run(["--version"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(pkg.version);
  });

  test("--help lists every command and every environment variable with its default", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    for (const command of ["serve", "migrate", "healthcheck"]) expect(stdout).toContain(command);
    for (const [name, { schema }] of Object.entries(ENV)) {
      const line = stdout.split("\n").find((l) => l.trimStart().startsWith(`${name} `));
      expect(line, name).toBeDefined();
      const def = (schema as { default?: unknown }).default;
      if (def !== undefined) expect(line).toContain(`[default: ${def}]`);
    }
  });

  test("an unknown command or argument is refused with exit code 2 and says what to do", async () => {
    const unknown = await run(["serv"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown command "serv"');
    expect(unknown.stderr).toContain("--help");
    const extra = await run(["migrate", "--force"]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('Unknown argument "--force"');
  });

  test("a bad environment variable is named, and nothing starts", async () => {
    const port = await run([], { PORT: "http" });
    expect(port.code).toBe(2);
    expect(port.stderr).toContain("PORT");
    expect(port.stderr).toContain('"http"');
    const level = await run([], { LOG_LEVEL: "loud" });
    expect(level.code).toBe(2);
    expect(level.stderr).toContain("LOG_LEVEL");
    const production = await run([], { NODE_ENV: "production", DATA_DIR: `${dir}/never` });
    expect(production.code).toBe(2);
    expect(production.stderr).toContain("AUTH_JWT_SECRET");
  });

  test("healthcheck exits 1 when nothing answers on PORT", async () => {
    const server = Bun.serve({ port: 0, fetch: () => new Response() });
    const port = server.port!;
    await server.stop(true);
    expect((await run(["healthcheck"], { PORT: String(port) })).code).toBe(1);
  });

  test("migrate applies the embedded migrations once, then finds nothing to do (PGlite)", async () => {
    const env = binaryEnv({ DATA_DIR: `${dir}/migrated` });
    const first = await run(["migrate"], env);
    expect(first.code).toBe(0);
    expect(logLines(first.stdout).find((l) => l.msg === "migrations applied")?.applied).toBeGreaterThanOrEqual(1);
    const again = await run(["migrate"], env);
    expect(again.code).toBe(0);
    expect(logLines(again.stdout).find((l) => l.msg === "database already up to date")?.applied).toBe(0);
  }, 60_000);

  // Postgres runs only in the Postgres CI mode (DATABASE_URL set); PGlite runs in both.
  if (process.env.DATABASE_URL) test("migrate is idempotent on Postgres too, and a bad URL fails with exit code 1", async () => {
    const database = await freshDatabase();
    drops.push(database.drop);
    const env = binaryEnv({ DATABASE_URL: database.url });
    const [a, b] = await Promise.all([run(["migrate"], env), run(["migrate"], env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    // Two instances migrating at once: the advisory lock lets one apply, the other finds it done.
    const applied = [a, b].map((r) => Number(logLines(r.stdout).find((l) => "applied" in l)?.applied));
    expect(applied.sort()).toEqual([0, applied[1]!]);
    expect(applied[1]).toBeGreaterThanOrEqual(1);
    const again = await run(["migrate"], env);
    expect(logLines(again.stdout).find((l) => l.msg === "database already up to date")?.applied).toBe(0);

    const url = new URL(database.url!);
    url.password = "not-the-password";
    url.port = "1";
    const broken = await run(["migrate"], binaryEnv({ DATABASE_URL: url.toString() }));
    expect(broken.code).toBe(1);
    expect(logLines(broken.stderr).find((l) => l.msg === "migration failed")).toBeDefined();
    expect(broken.stdout + broken.stderr).not.toContain("not-the-password");
  }, 60_000);
});
