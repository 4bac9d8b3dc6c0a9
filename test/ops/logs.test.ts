import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type App, startApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/core/log";
import { createRedisCluster } from "../../src/core/store/redis";
import { logRedisOutages } from "../../src/ops/instruments";
import { dropRedisPrefix, freshDatabase, INTERNAL_SECRET, JWT_SECRET, MODE, mintToken, testEnv } from "../helpers/service";
import { redisServer } from "../helpers/servers";
import { eventually } from "../helpers/sockets";

type Line = { time: string; level: string; msg: string; [field: string]: unknown };

function capturing(level: Parameters<typeof createLogger>[0]) {
  const lines: string[] = [];
  return { lines, parsed: () => lines.map((l) => JSON.parse(l) as Line), log: createLogger(level, {}, (line) => lines.push(line)) };
}

describe("log lines", () => {
  test("are one JSON object each, filtered by level", () => {
    const { log, parsed } = capturing("warn");
    log.debug("hidden");
    log.info("hidden too");
    log.warn("shown", { n: 1 });
    log.child({ component: "webhooks" }).error("also shown");
    expect(parsed()).toEqual([
      { time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), level: "warn", msg: "shown", n: 1 },
      { time: expect.any(String), level: "error", msg: "also shown", component: "webhooks" },
    ]);
  });

  test("show an error's code and the cause it wraps, scrubbed like the error itself", () => {
    const { log, parsed } = capturing("error");
    const driver = Object.assign(new Error("unsupported startup parameter: statement_timeout"), { code: "08P01" });
    const wrapper = new Error("Failed query: select 1\nparams: secret-content", { cause: driver });
    log.error("start-up failed", { error: wrapper });
    const [line] = parsed();
    const error = line!.error as { message: string; cause: { message: string; code: string } };
    expect(error.message).toContain("params: [redacted]");
    expect(error.message).not.toContain("secret-content");
    expect(error.cause).toMatchObject({ name: "Error", message: "unsupported startup parameter: statement_timeout", code: "08P01" });
  });

  test("say why a Redis Cluster client cannot start when its node is a plain Redis server", async () => {
    const { log, parsed } = capturing("warn");
    const { port } = new URL(await redisServer());
    const cluster = createRedisCluster([{ host: "127.0.0.1", port: Number(port) }]);
    logRedisOutages({ store: cluster }, log);
    try {
      await eventually(() => parsed().length > 0, 5000, "a log line");
    } finally {
      cluster.disconnect();
    }
    expect(parsed()[0]).toMatchObject({ msg: "redis unreachable; retrying", client: "store", cause: expect.stringContaining("cluster support disabled") });
  });

  test("never carry secrets: by field name, nor inside messages, errors and URLs", async () => {
    const jwt = await mintToken("alice");
    const { log, lines } = capturing("debug");
    log.info(`got Bearer ${jwt}`, {
      authorization: "Bearer opaque-token-value",
      AUTH_JWT_SECRET: "jwt-secret-value",
      nested: { password: "password-value", webhookSecret: "whsec-value", apiKey: "api-key-value", accessToken: "access-token-value" },
      url: "postgres://chat:db-password-value@db.internal:5432/chat",
      note: `forwarded ${jwt}`,
      error: new Error(`rejected header "Authorization: Bearer ${jwt}"`),
      failed: new Error('Failed query: insert into "messages" values ($1)\nparams: private-message-content'),
    });
    const text = lines.join("\n");
    for (const secret of [jwt, "opaque-token-value", "jwt-secret-value", "password-value", "whsec-value", "api-key-value", "access-token-value", "db-password-value", "private-message-content"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain("db.internal:5432/chat");
    expect(text).toContain("Failed query: insert into");
    expect(text).toContain("[redacted");
  });
});

describe("REST logs of a running service", () => {
  const { log, lines, parsed } = capturing("debug");
  const database = { url: undefined as string | undefined, drop: async () => {} };
  let app: App;
  let base: string;
  let prefix: string;
  beforeAll(async () => {
    Object.assign(database, await freshDatabase());
    const config = loadConfig(testEnv({ DATABASE_URL: database.url, LOG_LEVEL: "debug" }));
    prefix = config.REDIS_PREFIX;
    app = await startApp(config, log);
    base = `http://127.0.0.1:${app.ports.http}`;
  }, 60_000);
  afterAll(async () => {
    await app.stop();
    await database.drop();
    if (process.env.REDIS_URL) await dropRedisPrefix(process.env.REDIS_URL, prefix);
  });

  test("carry the request id on every request line and on errors, and no token or secret", async () => {
    const internal = { "x-internal-secret": INTERNAL_SECRET, "content-type": "application/json" };
    const token = await mintToken("log-user");
    const given = "trace-4f2a.9:b";
    const synced = await fetch(`${base}/api/users/sync`, { method: "POST", headers: { ...internal, "x-request-id": given }, body: JSON.stringify({ externalUserId: "log-user" }) });
    expect(synced.status).toBe(201);
    expect(synced.headers.get("x-request-id")).toBe(given);
    const listed = await fetch(`${base}/api/conversations`, { headers: { authorization: `Bearer ${token}` } });
    expect(listed.status).toBe(200);
    const refused = await fetch(`${base}/api/conversations`, { headers: { authorization: `Bearer ${token}x` } });
    expect(refused.status).toBe(401);

    // The database goes away: the caller gets an error with nothing from inside (UNAVAILABLE
    // from a Postgres pool that ended, INTERNAL from a closed embedded database), the log gets
    // the error and the request id.
    await app.ctx.storage.close();
    const failed = await fetch(`${base}/api/users/log-user`, { headers: internal });
    const expected = MODE === "postgres" ? { status: 503, code: "UNAVAILABLE" } : { status: 500, code: "INTERNAL" };
    expect(failed.status).toBe(expected.status);
    expect(await failed.json()).toEqual({ error: { code: expected.code, message: expect.any(String) } });
    const failedId = failed.headers.get("x-request-id");

    // Access lines are written once the response is sent: wait for the last one.
    const accessLines = () => parsed().filter((l) => l.msg === "request");
    await eventually(() => accessLines().some((l) => l.requestId === failedId), 5000, "access line of the failed request");
    const requests = accessLines();
    expect(requests.length).toBeGreaterThanOrEqual(4);
    for (const line of requests) expect(line.requestId).toEqual(expect.any(String));
    const ids = requests.map((l) => l.requestId);
    for (const res of [synced, listed, refused, failed]) expect(ids).toContain(res.headers.get("x-request-id"));
    const error = parsed().find((l) => l.level === "error" && l.msg === "request failed");
    expect(error).toMatchObject({ requestId: failedId, method: "GET", error: { message: expect.any(String) } });

    const text = lines.join("\n");
    for (const secret of [token, JWT_SECRET, INTERNAL_SECRET]) expect(text).not.toContain(secret);
  });
});
