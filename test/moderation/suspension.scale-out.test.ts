/** A suspension made through one instance ends the user's sockets on every instance, and each refuses them. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Cluster, connectTo, internal, type Instance, restAs, startCluster, usersOn } from "../helpers/instances";
import { mintToken } from "../helpers/service";
import { closeAllSockets, connectError, nextEvent } from "../helpers/sockets";

let cluster: Cluster;
let a: Instance;
let b: Instance;
beforeAll(async () => {
  cluster = await startCluster();
  [a, b] = await Promise.all([cluster.start(), cluster.start()]);
}, 90_000);
afterAll(async () => {
  closeAllSockets();
  await cluster?.stop();
}, 60_000);

test("sockets on both instances get error FORBIDDEN and are disconnected; both refuse the user until unsuspended", async () => {
  const [ann, bob] = await usersOn(a, "ann", "bob");
  const onA = await connectTo(a, ann!);
  const onB = await connectTo(b, ann!);
  const bobOnB = await connectTo(b, bob!);
  const told = [onA, onB].map((s) => nextEvent(s, "error", (e) => e.code === "FORBIDDEN"));
  const ended = [onA, onB].map((s) => new Promise<string>((resolve) => s.once("disconnect", resolve)));

  expect((await internal(a, "POST", `/api/users/${ann}/suspend`, {})).status).toBe(200);
  await Promise.all(told);
  expect(await Promise.all(ended)).toEqual(["io server disconnect", "io server disconnect"]);
  expect(bobOnB.connected).toBe(true);

  for (const on of [a, b]) {
    const res = await (await restAs(on, ann!)).get("/api/conversations");
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 403, code: "FORBIDDEN" });
    expect((await connectError(on.wsUrl, await mintToken(ann!))).data?.code).toBe("FORBIDDEN");
  }

  expect((await internal(b, "POST", `/api/users/${ann}/unsuspend`)).status).toBe(200);
  for (const on of [a, b]) {
    expect((await (await restAs(on, ann!)).get("/api/conversations")).status).toBe(200);
    expect((await connectTo(on, ann!)).connected).toBe(true);
  }
});
