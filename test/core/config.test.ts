import { describe, expect, test } from "bun:test";
import { ConfigError, DEV_SECRETS, loadConfig } from "../../src/config";

/** loadConfig is the only reader of the environment; these cases are what an operator sees. */
const SECRET = "s".repeat(32);
const production = (extra: Record<string, string | undefined> = {}) =>
  loadConfig({ NODE_ENV: "production", AUTH_JWT_SECRET: SECRET, INTERNAL_API_SECRET: `i${SECRET}`, ...extra });

function refusal(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("defaults", () => {
  test("the contract's defaults, and development secrets flagged as such", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      WS_PORT: 3001,
      MESSAGE_MAX_LENGTH: 4000,
      MAX_BODY_BYTES: 1048576,
      TYPING_TTL_MS: 6000,
      PRESENCE_TTL_MS: 60000,
      WEBHOOK_TIMEOUT_MS: 5000,
      production: false,
      corsOrigins: "*",
      AUTH_JWT_SECRET: [DEV_SECRETS.AUTH_JWT_SECRET],
      INTERNAL_API_SECRET: DEV_SECRETS.INTERNAL_API_SECRET,
    });
    expect(config.devSecrets).toEqual(["AUTH_JWT_SECRET", "INTERNAL_API_SECRET"]);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.AUTH_JWT_ISSUER).toBeUndefined();
  });

  test("numbers are read from strings; an empty variable counts as unset", () => {
    const config = loadConfig({ PORT: "8080", MESSAGE_MAX_LENGTH: "500", REDIS_URL: "", AUTH_JWT_ISSUER: "" });
    expect(config.PORT).toBe(8080);
    expect(config.MESSAGE_MAX_LENGTH).toBe(500);
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.AUTH_JWT_ISSUER).toBeUndefined();
  });

  test("CORS_ORIGINS is * or a comma-separated list", () => {
    expect(loadConfig({ CORS_ORIGINS: " https://a.example.com, https://b.example.com ,," }).corsOrigins).toEqual(["https://a.example.com", "https://b.example.com"]);
    expect(loadConfig({ CORS_ORIGINS: " * " }).corsOrigins).toBe("*");
  });
});

describe("refusals name the variable and what was wrong", () => {
  test("values that are not numbers, or out of range", () => {
    expect(refusal({ PORT: "http" })).toContain("PORT");
    expect(refusal({ PORT: "http" })).toContain('"http"');
    expect(refusal({ MESSAGE_MAX_LENGTH: "0" })).toContain("MESSAGE_MAX_LENGTH");
    expect(refusal({ MAX_BODY_BYTES: "10" })).toContain("MAX_BODY_BYTES");
    expect(refusal({ LOG_LEVEL: "loud" })).toContain("LOG_LEVEL");
    expect(refusal({ REDIS_PREFIX: "has space" })).toContain("REDIS_PREFIX");
  });

  test("MESSAGE_RETENTION_DAYS is unset (kept forever) or a positive whole number of days", () => {
    expect(loadConfig({}).MESSAGE_RETENTION_DAYS).toBeUndefined();
    expect(loadConfig({ MESSAGE_RETENTION_DAYS: "30" }).MESSAGE_RETENTION_DAYS).toBe(30);
    for (const value of ["0", "-3", "forever"]) expect(refusal({ MESSAGE_RETENTION_DAYS: value })).toContain("MESSAGE_RETENTION_DAYS");
    expect(loadConfig({}).LIFECYCLE_INTERVAL_MS).toBe(60000);
    expect(refusal({ LIFECYCLE_INTERVAL_MS: "5" })).toContain("LIFECYCLE_INTERVAL_MS");
  });

  test("a choice names the values it accepts", () => {
    expect(refusal({ DATABASE_POOLER: "bogus" })).toContain("DATABASE_POOLER: must be one of none, transaction");
    expect(refusal({ LOG_LEVEL: "loud" })).toContain("must be one of debug, info, warn, error, silent");
  });

  test("a webhook URL must be http(s)", () => {
    expect(refusal({ WEBHOOK_URL: "ftp://host.example.com/hook" })).toContain("WEBHOOK_URL");
  });

  test("REDIS_CLUSTER_NODES is comma-separated host:port, and excludes REDIS_URL", () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.1:6379, redis-2.internal:7000,[::1]:7001" }).redisClusterNodes).toEqual([
      { host: "10.0.0.1", port: 6379 },
      { host: "redis-2.internal", port: 7000 },
      { host: "::1", port: 7001 },
    ]);
    expect(loadConfig({}).redisClusterNodes).toBeUndefined();
    expect(refusal({ REDIS_CLUSTER_NODES: "10.0.0.1" })).toContain("REDIS_CLUSTER_NODES");
    expect(refusal({ REDIS_CLUSTER_NODES: "10.0.0.1:70000" })).toContain("REDIS_CLUSTER_NODES");
    expect(refusal({ REDIS_CLUSTER_NODES: "redis://10.0.0.1:6379" })).toContain("not URLs");
    expect(refusal({ REDIS_CLUSTER_NODES: "10.0.0.1:6379", REDIS_URL: "redis://10.0.0.1:6379" })).toContain("not both");
  });
});

describe("production mode", () => {
  test("starts with two strong secrets and no development defaults", () => {
    const config = production();
    expect(config.production).toBe(true);
    expect(config.devSecrets).toEqual([]);
    expect(config.AUTH_JWT_SECRET).toEqual([SECRET]);
  });

  test("refuses a missing or short secret, naming it", () => {
    expect(refusal({ NODE_ENV: "production", INTERNAL_API_SECRET: SECRET })).toContain("AUTH_JWT_SECRET");
    expect(refusal({ NODE_ENV: "production", AUTH_JWT_SECRET: SECRET })).toContain("INTERNAL_API_SECRET");
    const short = refusal({ NODE_ENV: "production", AUTH_JWT_SECRET: "s".repeat(31), INTERNAL_API_SECRET: SECRET });
    expect(short).toContain("AUTH_JWT_SECRET");
    expect(short).toContain("31 bytes");
    // Bytes, not characters: 11 three-byte characters are 33 bytes.
    expect(production({ AUTH_JWT_SECRET: "€".repeat(11) }).AUTH_JWT_SECRET).toEqual(["€".repeat(11)]);
  });

  test("webhooks need their own strong secret; a whsec_ secret counts its decoded bytes", () => {
    expect(refusal({ NODE_ENV: "production", AUTH_JWT_SECRET: SECRET, INTERNAL_API_SECRET: SECRET, WEBHOOK_URL: "https://host.example.com/hook" })).toContain("WEBHOOK_SECRET");
    const key = (bytes: number) => `whsec_${Buffer.alloc(bytes, 7).toString("base64")}`;
    expect(() => production({ WEBHOOK_URL: "https://host.example.com/hook", WEBHOOK_SECRET: key(24) })).toThrow(ConfigError);
    expect(production({ WEBHOOK_URL: "https://host.example.com/hook", WEBHOOK_SECRET: key(32) }).WEBHOOK_SECRET).toEqual([key(32)]);
  });

  test("the JWT and webhook secrets rotate: several separated by spaces, each of them strong", () => {
    const next = "n".repeat(32);
    expect(production({ AUTH_JWT_SECRET: ` ${SECRET}  ${next} ` }).AUTH_JWT_SECRET).toEqual([SECRET, next]);
    const weakSecond = refusal({ NODE_ENV: "production", AUTH_JWT_SECRET: `${SECRET} ${"n".repeat(31)}`, INTERNAL_API_SECRET: SECRET });
    expect(weakSecond).toContain("AUTH_JWT_SECRET (secret 2 of 2) is 31 bytes");
    const key = (bytes: number) => `whsec_${Buffer.alloc(bytes, 7).toString("base64")}`;
    const hook = { WEBHOOK_URL: "https://host.example.com/hook" };
    expect(production({ ...hook, WEBHOOK_SECRET: `${key(32)} ${next}` }).WEBHOOK_SECRET).toEqual([key(32), next]);
    expect(() => production({ ...hook, WEBHOOK_SECRET: `${key(32)} ${key(16)}` })).toThrow("WEBHOOK_SECRET (secret 2 of 2) is 16 bytes");
    // The internal secret does not rotate this way: a space is part of it.
    expect(production({ INTERNAL_API_SECRET: `${SECRET} ${next}` }).INTERNAL_API_SECRET).toBe(`${SECRET} ${next}`);
    // Development mode takes short secrets, rotating ones too.
    expect(loadConfig({ AUTH_JWT_SECRET: "a b" }).AUTH_JWT_SECRET).toEqual(["a", "b"]);
  });

  test("any other NODE_ENV is development mode", () => {
    expect(loadConfig({ NODE_ENV: "staging" }).production).toBe(false);
  });
});
