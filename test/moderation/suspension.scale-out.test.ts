/** A suspension made through one instance ends the user's sockets on every instance, and each refuses them. */
import { expect, test } from "bun:test";
import { connectTo, internal, type Instance, restAs, usersOn, withTwoInstances } from "../helpers/instances";
import { mintToken } from "../helpers/service";
import { connectError, nextEvent } from "../helpers/sockets";

let a: Instance;
let b: Instance;
withTwoInstances((x, y) => {
  [a, b] = [x, y];
});

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
