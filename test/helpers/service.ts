/**
 * Starts a real chat service for a test file: its own fresh database (a new Postgres database
 * when DATABASE_URL is set, else an embedded PGlite), its own Redis key prefix when REDIS_URL is
 * set, free ports, and clients that talk to it over real HTTP and real sockets.
 */
import { afterAll, beforeAll } from "bun:test";
import { SignJWT } from "jose";
import { type App, type AppOptions, startApp } from "../../src/app";
import { type Config, loadConfig } from "../../src/config";
import { openStorage } from "../../src/core/db/client";
import { migrate } from "../../src/core/db/migrate";
import { createLogger, type Logger } from "../../src/core/log";
import { createDatabase } from "./postgres";
import { dropRedisPrefix } from "./redis";

export { dropRedisPrefix };
import { closeAllSockets } from "./sockets";

export const MODE = process.env.DATABASE_URL ? "postgres" : "pglite";
export const JWT_SECRET = "test-jwt-secret-0123456789abcdefghijkl";
export const INTERNAL_SECRET = "test-internal-secret-0123456789abcdefgh";

/** A database that exists only for one service (or a group of instances sharing it); none without a server. */
export async function freshDatabase(base = process.env.DATABASE_URL): Promise<{ url: string | undefined; drop(): Promise<void> }> {
  return base ? createDatabase(base) : { url: undefined, drop: async () => {} };
}

let pgliteSeed: Promise<Blob> | undefined;
/** One migrated embedded database per test process, cloned for each service (initdb is slow). */
function migratedSeed(): Promise<Blob> {
  pgliteSeed ??= (async () => {
    const config = loadConfig({ DATA_DIR: "memory://" });
    const storage = await openStorage(config, createLogger("silent"));
    await migrate(storage);
    const seed = await storage.dump!();
    await storage.close();
    return seed;
  })();
  return pgliteSeed;
}

export const uniquePrefix = () => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`;

export function testEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    WS_PORT: "0",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "error",
    AUTH_JWT_SECRET: JWT_SECRET,
    INTERNAL_API_SECRET: INTERNAL_SECRET,
    DATA_DIR: "memory://",
    REDIS_URL: process.env.REDIS_URL,
    REDIS_PREFIX: uniquePrefix(),
    ...extra,
  };
}

export type Reply<T = any> = { status: number; body: T; headers: Headers };

export type TestService = {
  app: App;
  config: Config;
  url: string;
  wsUrl: string;
  request<T = any>(method: string, path: string, init?: { body?: unknown; headers?: Record<string, string> }): Promise<Reply<T>>;
  internal<T = any>(method: string, path: string, body?: unknown): Promise<Reply<T>>;
  syncUser(externalUserId: string, extra?: Record<string, unknown>): Promise<void>;
  syncUsers(...ids: string[]): Promise<void>;
  token(userId: string, claims?: TokenOptions): Promise<string>;
  as(userId: string): Promise<ApiClient>;
  stop(): Promise<void>;
};

export type TokenOptions = {
  expiresIn?: number | string;
  notBefore?: number;
  /** `iat` in Unix seconds; null leaves it out; default now. */
  issuedAt?: number | null;
  issuer?: string;
  audience?: string;
  secret?: string;
  alg?: string;
  claims?: Record<string, unknown>;
};

export async function mintToken(sub: string, opts: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ ...opts.claims }).setProtectedHeader({ alg: opts.alg ?? "HS256" }).setSubject(sub);
  if (opts.issuedAt !== null) jwt.setIssuedAt(opts.issuedAt);
  if (opts.expiresIn !== undefined) jwt.setExpirationTime(opts.expiresIn);
  else jwt.setExpirationTime("1h");
  if (opts.notBefore !== undefined) jwt.setNotBefore(opts.notBefore);
  if (opts.issuer) jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt.setAudience(opts.audience);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? JWT_SECRET));
}

export type ApiClient = {
  userId: string;
  token: string;
  get<T = any>(path: string): Promise<Reply<T>>;
  post<T = any>(path: string, body?: unknown): Promise<Reply<T>>;
  put<T = any>(path: string, body?: unknown): Promise<Reply<T>>;
  patch<T = any>(path: string, body?: unknown): Promise<Reply<T>>;
  delete<T = any>(path: string): Promise<Reply<T>>;
};

/** One HTTP request: a body that is not a string goes as JSON; a JSON answer is parsed, any other kept as text. */
export async function sendRequest<T = any>(base: string, method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** `log`: where the service writes its log lines (a test that reads them passes its own). */
export async function startService(env: Record<string, string | undefined> = {}, options: AppOptions = {}, log?: Logger): Promise<TestService> {
  const database = env.DATABASE_URL === undefined ? await freshDatabase() : { url: env.DATABASE_URL, drop: async () => {} };
  const config = loadConfig(testEnv({ DATABASE_URL: database.url, ...env }));
  const app = await startApp(config, log ?? createLogger(config.LOG_LEVEL), MODE === "pglite" ? { ...options, pgliteSeed: await migratedSeed() } : options);
  const url = `http://127.0.0.1:${app.ports.http}`;
  const service: TestService = {
    app,
    config,
    url,
    wsUrl: app.ports.ws ? `http://127.0.0.1:${app.ports.ws}` : url,
    request: (method, path, init) => sendRequest(url, method, path, init),
    internal: (method, path, body) => sendRequest(url, method, path, { body, headers: { "x-internal-secret": INTERNAL_SECRET } }),
    async syncUser(externalUserId, extra = {}) {
      const res = await service.internal("POST", "/api/users/sync", { externalUserId, ...extra });
      if (res.status !== 200 && res.status !== 201) throw new Error(`sync ${externalUserId}: ${res.status} ${JSON.stringify(res.body)}`);
    },
    async syncUsers(...ids) {
      const res = await service.internal("POST", "/api/users/sync/batch", { users: ids.map((externalUserId) => ({ externalUserId })) });
      if (res.status !== 200) throw new Error(`batch sync: ${res.status} ${JSON.stringify(res.body)}`);
    },
    token: (userId, opts) => mintToken(userId, opts),
    async as(userId) {
      const token = await mintToken(userId);
      const auth = { authorization: `Bearer ${token}` };
      return {
        userId,
        token,
        get: (path) => sendRequest(url, "GET", path, { headers: auth }),
        post: (path, body) => sendRequest(url, "POST", path, { body, headers: auth }),
        put: (path, body) => sendRequest(url, "PUT", path, { body, headers: auth }),
        patch: (path, body) => sendRequest(url, "PATCH", path, { body, headers: auth }),
        delete: (path) => sendRequest(url, "DELETE", path, { headers: auth }),
      };
    },
    async stop() {
      await app.stop();
      await database.drop();
      if (config.REDIS_URL) await dropRedisPrefix(config.REDIS_URL, config.REDIS_PREFIX);
    },
  };
  return service;
}

/**
 * The service the tests of a file (or of the describe block it is called in) talk to: started
 * before the first of them, stopped after the last, the sockets they opened closed first.
 * Use it like what startService returns, but only inside tests and hooks: there is no service
 * behind it until beforeAll has run.
 */
export function serviceForTests(env: Record<string, string | undefined> = {}, options: AppOptions = {}): TestService {
  let started: TestService | undefined;
  beforeAll(async () => {
    started = await startService(env, options);
  }, 60_000);
  afterAll(async () => {
    closeAllSockets();
    await started?.stop();
  }, 60_000);
  // A stand-in for the service rather than a getter, so that tests keep reading `svc.as(...)`.
  return new Proxy({} as TestService, {
    get(_, key) {
      if (!started) throw new Error("the test service starts in beforeAll: use it inside tests and hooks");
      return started[key as keyof TestService];
    },
  });
}

