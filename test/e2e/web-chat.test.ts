/**
 * The example web chat in a real browser: two people sign in at the example host (each in their
 * own browser context), open a direct conversation and use everything the page offers, then the
 * chat service restarts under them. It runs `startDemo`, what `bun run demo` runs, on free ports:
 * the service keeps its data on disk (a PGlite directory) or, when the suite runs on Postgres, in
 * a fresh database of the test server, so the restart keeps it. Two more people then use a
 * thread and pins in a group. A last test checks, without a browser, what the host refuses to
 * pass on.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { startDemo } from "../../examples/demo";
import { freePort } from "../helpers/processes";
import { freshDatabase, uniquePrefix } from "../helpers/service";
import { launchChromium, pageErrors, screenshot, signedIn } from "./browser";

let demo: Awaited<ReturnType<typeof startDemo>>;
let browser: Browser;
let cleanup: () => Promise<void>;
/** What the host logged: the webhooks it verified, among others. */
const hostLog: { msg: string; type?: string }[] = [];

beforeAll(async () => {
  const database = await freshDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), "chat-e2e-"));
  const storage: Record<string, string> = database.url
    ? { DATABASE_URL: database.url, ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: uniquePrefix() } : {}) }
    : { DATA_DIR: dataDir };
  demo = await startDemo({
    hostPort: freePort(),
    chatPort: freePort(),
    chatSocketPort: freePort(),
    chatEnv: { ...storage, NODE_ENV: "test", LOG_LEVEL: "warn", SHUTDOWN_TIMEOUT_MS: "5000", WEBHOOK_DRAIN_INTERVAL_MS: "50", MESSAGE_MAX_LENGTH: "100" },
    log: (msg, fields) => hostLog.push({ msg, ...fields }),
  });
  browser = await launchChromium();
  cleanup = async () => {
    await browser?.close();
    await demo?.stop();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  // A first embedded start creates its database (initdb): slow on a loaded machine.
}, 60_000);

afterAll(() => cleanup?.(), 30_000);

/** The message log's item whose body says `text`. */
const message = (page: Page, text: string) => page.getByRole("log", { name: "Messages" }).getByRole("listitem").filter({ has: page.getByText(text, { exact: true }) });
/** The same in the open thread's replies. */
const reply = (page: Page, text: string) => page.getByRole("log", { name: "Replies" }).getByRole("listitem").filter({ has: page.getByText(text, { exact: true }) });

test("two people chat through the example host, across a restart of the chat service", async () => {
  const ann = await signedIn(browser, demo.url, "Ann");
  const bob = await signedIn(browser, demo.url, "Bob");

  // Ann opens a direct conversation with Bob by name; it appears in Bob's list, online and unread.
  await ann.getByLabel("Chat with").fill("Bob");
  await ann.getByRole("button", { name: "Open" }).click();
  await ann.getByRole("heading", { name: "Bob" }).waitFor();
  await ann.getByRole("img", { name: "online" }).waitFor();

  await ann.getByRole("textbox", { name: "Message" }).pressSequentially("Hello Bob");
  await ann.getByRole("button", { name: "Send" }).click();
  await message(ann, "Hello Bob").getByText("sent").waitFor();
  await bob.getByRole("button", { name: "Ann, online, 1 unread" }).waitFor();

  // Bob opens it: the message is there, and Ann sees it read.
  await bob.getByRole("button", { name: /^Ann/ }).click();
  await message(bob, "Hello Bob").waitFor();
  await bob.getByRole("button", { name: "Ann, online", exact: true }).waitFor();
  await message(ann, "Hello Bob").getByText("read").waitFor();

  // Bob types: Ann sees it; Bob answers.
  await bob.getByRole("textbox", { name: "Message" }).pressSequentially("Hi Ann");
  await ann.getByText("Bob is typing…").waitFor();
  await bob.getByRole("button", { name: "Send" }).click();
  await message(ann, "Hi Ann").waitFor();
  await ann.getByText("Bob is typing…").waitFor({ state: "hidden" });

  // Reactions, edits and deletes reach the other side.
  await message(bob, "Hello Bob").getByRole("button", { name: "👍 0" }).click();
  await message(ann, "Hello Bob").getByRole("button", { name: "👍 1" }).waitFor();
  await message(ann, "Hello Bob").getByRole("button", { name: "Edit" }).click();
  await ann.getByRole("textbox", { name: "Edit message" }).fill("Hello Bob, edited");
  await ann.getByRole("button", { name: "Save" }).click();
  await message(bob, "Hello Bob, edited").getByText("edited", { exact: true }).waitFor();
  await message(bob, "Hi Ann").getByRole("button", { name: "Delete" }).click();
  await message(ann, "Message deleted").waitFor();

  // A send the service refuses (too long here) stays on Ann's page as not sent, until discarded.
  const tooLong = "x".repeat(101);
  await ann.getByRole("textbox", { name: "Message" }).fill(tooLong);
  await ann.getByRole("button", { name: "Send" }).click();
  await message(ann, tooLong).getByText("not sent").waitFor();
  await ann.getByRole("alert").filter({ hasText: "100" }).waitFor();
  await message(ann, tooLong).getByRole("button", { name: "Discard" }).click();
  await message(ann, tooLong).waitFor({ state: "detached" });
  await ann.getByRole("alert").filter({ hasText: "100" }).waitFor({ state: "detached" });

  // The chat service restarts; a message Ann sends meanwhile shows as sending, then reaches both, once.
  const restart = demo.restartChat();
  await ann.getByRole("status").filter({ hasText: "reconnecting" }).waitFor();
  await bob.getByRole("status").filter({ hasText: "reconnecting" }).waitFor();
  await ann.getByRole("textbox", { name: "Message" }).fill("Sent while the service restarts");
  await ann.getByRole("button", { name: "Send" }).click();
  await message(ann, "Sent while the service restarts").getByText("sending").waitFor();
  await restart;
  await message(ann, "Sent while the service restarts").getByText("read").waitFor({ timeout: 20_000 });
  await message(bob, "Sent while the service restarts").waitFor();
  for (const page of [ann, bob]) {
    await page.getByRole("status").filter({ hasText: "reconnecting" }).waitFor({ state: "hidden" });
    expect(await message(page, "Sent while the service restarts").count()).toBe(1);
  }

  const shots = [await screenshot(ann, "ann"), await screenshot(bob, "bob")];

  // A longer history (sent through the host's proxy, as the page would) while Bob looks at no
  // conversation: he sees it unread, live and after a reload, then the newest page first, and
  // pages back to the start.
  await bob.reload();
  await bob.getByRole("button", { name: "Ann, online", exact: true }).waitFor();
  await ann.evaluate(async (conversationId) => {
    for (let i = 1; i <= 35; i++) {
      await fetch(`/api/conversations/${conversationId}/messages`, { method: "POST", body: JSON.stringify({ content: `Number ${i}` }) });
    }
  }, await ann.getByRole("button", { name: /^Bob/ }).getAttribute("data-conversation-id"));
  await bob.getByRole("button", { name: "Ann, online, 35 unread" }).waitFor();
  await bob.reload();
  await bob.getByRole("button", { name: "Ann, online, 35 unread" }).waitFor();
  const unreadShot = await screenshot(bob, "bob-unread");
  await bob.getByRole("button", { name: /^Ann/ }).click();
  await message(bob, "Number 35").waitFor();
  expect(await message(bob, "Hello Bob, edited").count()).toBe(0);
  await bob.getByRole("button", { name: "Load older messages" }).click();
  await message(bob, "Hello Bob, edited").waitFor();
  await bob.getByRole("button", { name: "Load older messages" }).waitFor({ state: "hidden" });
  expect(await bob.getByRole("log").getByRole("listitem").count()).toBe(38);

  // The host verified the service's webhooks, the restart's included.
  for (const type of ["conversation.created", "message.created", "message.updated", "message.deleted", "reaction.added"]) {
    expect(hostLog).toContainEqual(expect.objectContaining({ msg: "chat event", type }));
  }
  expect(pageErrors).toEqual([]);
  console.log(`screenshots: ${[...shots, unreadShot].join(", ")}`);
}, 60_000);

test("in a group, a thread and pins reach the other member live", async () => {
  const carol = await signedIn(browser, demo.url, "Carol");
  const dave = await signedIn(browser, demo.url, "Dave");

  // Carol starts a group with Dave through the host's proxy, as a host's own page would; she owns it.
  const group = await carol.evaluate(async () => {
    const res = await fetch("/api/conversations", { method: "POST", body: JSON.stringify({ type: "group", name: "Plans", participantIds: ["dave"] }) });
    return ((await res.json()) as { id: string }).id;
  });
  for (const page of [carol, dave]) {
    await page.getByRole("button", { name: /^Plans/ }).click();
    await page.getByRole("heading", { name: "Plans" }).waitFor();
  }
  await carol.getByRole("textbox", { name: "Message" }).fill("Lunch on Friday?");
  await carol.getByRole("button", { name: "Send", exact: true }).click();
  await message(dave, "Lunch on Friday?").waitFor();

  // Carol replies in the message's thread, from the panel beside the conversation; Dave sees the count live.
  await message(carol, "Lunch on Friday?").getByRole("button", { name: "Reply", exact: true }).click();
  const carolThread = carol.getByRole("complementary", { name: "Thread" });
  await carolThread.getByRole("textbox", { name: "Reply" }).fill("Yes, at noon");
  await carolThread.getByRole("button", { name: "Send" }).click();
  await reply(carol, "Yes, at noon").getByText("sent").waitFor();
  await message(dave, "Lunch on Friday?").getByRole("button", { name: "1 reply", exact: true }).waitFor();
  await carolThread.getByRole("textbox", { name: "Reply" }).fill("I will book");
  await carolThread.getByRole("button", { name: "Send" }).click();
  await message(dave, "Lunch on Friday?").getByRole("button", { name: "2 replies", exact: true }).waitFor();

  // Dave opens the thread: both replies, and his own reaches Carol's open panel and count.
  await message(dave, "Lunch on Friday?").getByRole("button", { name: "2 replies", exact: true }).click();
  const daveThread = dave.getByRole("complementary", { name: "Thread" });
  await daveThread.getByText("Carol: Lunch on Friday?").waitFor();
  await reply(dave, "Yes, at noon").waitFor();
  await reply(dave, "I will book").waitFor();
  await daveThread.getByRole("textbox", { name: "Reply" }).fill("Count me in");
  await daveThread.getByRole("button", { name: "Send" }).click();
  await reply(carol, "Count me in").waitFor();
  await message(carol, "Lunch on Friday?").getByRole("button", { name: "3 replies", exact: true }).waitFor();
  // Replies stay out of the conversation's log.
  for (const page of [carol, dave]) expect(await message(page, "Count me in").count()).toBe(0);

  // Dave, a member, is not offered pins; Carol, the owner, pins: Dave sees the mark and the Pinned list.
  expect(await message(dave, "Lunch on Friday?").getByRole("button", { name: "Pin", exact: true }).count()).toBe(0);
  await message(carol, "Lunch on Friday?").getByRole("button", { name: "Pin", exact: true }).click();
  await message(dave, "Lunch on Friday?").getByText("pinned", { exact: true }).waitFor();
  await dave.getByRole("list", { name: "Pinned" }).getByText("Lunch on Friday?").waitFor();
  const shots = [await screenshot(carol, "carol-thread"), await screenshot(dave, "dave-thread")];
  // Still there after a reload, from the list of pins.
  await dave.reload();
  await dave.getByRole("button", { name: /^Plans/ }).click();
  await dave.getByRole("list", { name: "Pinned" }).getByText("Lunch on Friday?").waitFor();

  // Unpinning takes it off Dave's page.
  await message(carol, "Lunch on Friday?").getByRole("button", { name: "Unpin", exact: true }).click();
  await message(dave, "Lunch on Friday?").getByText("pinned", { exact: true }).waitFor({ state: "detached" });
  await dave.getByRole("list", { name: "Pinned" }).waitFor({ state: "hidden" });

  // Made an admin, Dave may pin; made a member again while his page still offers it, the refusal shows.
  const setRole = (role: string) =>
    carol.evaluate(({ id, role }) => fetch(`/api/conversations/${id}/participants/dave`, { method: "PATCH", body: JSON.stringify({ role }) }).then((r) => r.status), { id: group, role });
  expect(await setRole("admin")).toBe(200);
  await dave.reload();
  await dave.getByRole("button", { name: /^Plans/ }).click();
  expect(await setRole("member")).toBe(200);
  await message(dave, "Lunch on Friday?").getByRole("button", { name: "Pin", exact: true }).click();
  await dave.getByRole("alert").filter({ hasText: "owners and admins" }).waitFor();
  await dave.getByRole("list", { name: "Pinned" }).waitFor({ state: "hidden" });

  expect(pageErrors).toEqual([]);
  console.log(`screenshots: ${shots.join(", ")}`);
}, 60_000);

test("the host lets a browser reach only the public API, as the session's user", async () => {
  const url = (path: string) => new URL(path, demo.url).href;
  for (const path of ["/session", "/session/token", "/people", "/api/conversations"]) {
    expect((await fetch(url(path))).status).toBe(401);
  }
  const signIn = await fetch(url("/session"), { method: "POST", body: JSON.stringify({ name: "Eve" }) });
  const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
  expect(await signIn.json()).toEqual({ id: "eve", name: "Eve" });

  // Signed in: the public API answers as Eve, whatever the browser claims.
  const mine = await fetch(url("/api/conversations"), { headers: { cookie, authorization: "Bearer forged" } });
  expect(mine.status).toBe(200);
  expect(((await mine.json()) as { data: unknown[] }).data).toEqual([]);
  // Never the internal API, nor a call from another site's page.
  const internal = await fetch(url("/api/users/sync"), { method: "POST", headers: { cookie }, body: JSON.stringify({ externalUserId: "eve", name: "Admin" }) });
  expect(internal.status).toBe(404);
  expect((await fetch(url("/api/users/eve"), { headers: { cookie } })).status).toBe(404);
  const crossSite = await fetch(url("/api/conversations"), { method: "POST", headers: { cookie, origin: "https://elsewhere.example" }, body: "{}" });
  expect(crossSite.status).toBe(403);

  // A webhook without a valid signature is refused and not handled.
  const logged = hostLog.length;
  const forged = await fetch(url("/webhooks/chat"), {
    method: "POST",
    headers: { "webhook-id": "evt_1", "webhook-timestamp": String(Math.floor(Date.now() / 1000)), "webhook-signature": "v1,Zm9yZ2Vk" },
    body: JSON.stringify({ id: "evt_1", type: "notification.message", timestamp: new Date().toISOString(), data: {} }),
  });
  expect(forged.status).toBe(401);
  expect(hostLog.slice(logged).map((line) => line.msg)).not.toContain("push notification");
});
