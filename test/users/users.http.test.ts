import { describe, expect, test } from "bun:test";
import { serviceForTests } from "../helpers/service";

const svc = serviceForTests();

describe("internal user API", () => {
  test("sync creates (201) then updates (200), keeping fields left out", async () => {
    const created = await svc.internal("POST", "/api/users/sync", { externalUserId: "u-1", name: "Ann", metadata: { plan: "pro" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ externalUserId: "u-1", name: "Ann", avatarUrl: null, metadata: { plan: "pro" } });
    expect(created.body.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const updated = await svc.internal("POST", "/api/users/sync", { externalUserId: "u-1", avatarUrl: "https://cdn.example.com/a.png" });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: "Ann", avatarUrl: "https://cdn.example.com/a.png", metadata: { plan: "pro" } });
    expect(updated.body.createdAt).toBe(created.body.createdAt);
  });

  test("GET returns the user, 404 for an unknown id", async () => {
    expect((await svc.internal("GET", "/api/users/u-1")).body.externalUserId).toBe("u-1");
    const missing = await svc.internal("GET", "/api/users/nobody");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
  });

  test("the internal secret is required and a user token does not open the internal API", async () => {
    const none = await svc.request("GET", "/api/users/u-1");
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("UNAUTHORIZED");
    const wrong = await svc.request("GET", "/api/users/u-1", { headers: { "x-internal-secret": "nope" } });
    expect(wrong.status).toBe(401);
    const jwt = await svc.request("GET", "/api/users/u-1", { headers: { authorization: `Bearer ${await svc.token("u-1")}` } });
    expect(jwt.status).toBe(401);
  });
});
