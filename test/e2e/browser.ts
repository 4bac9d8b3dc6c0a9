/**
 * The browser side of the end-to-end tests: Debian's Chromium (`/usr/bin/chromium`, installed by
 * .ci/run) driven by playwright-core, one browser context per user so that each has its own
 * cookies, as two people on two machines would.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

export const SCREENSHOTS = join(import.meta.dir, "screenshots");

/** Uncaught errors of every page opened here: a test ends by checking there were none. */
export const pageErrors: string[] = [];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" });
}

/** A new person at the web chat: their own context, signed in under `name`. */
export async function signedIn(browser: Browser, url: string, name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (error) => pageErrors.push(`${name}: ${error}`));
  await page.goto(url);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText(`Signed in as ${name}`).waitFor();
  return page;
}

/** Writes the page as a PNG for a person to look at, and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}
