// Helpers for the browser tests (tests/ui.test.mjs): sessions without the
// login form (the auth endpoints allow 10 attempts per minute and IP, so the
// tests log in as the superuser once and impersonate users, which is not an
// auth attempt), and a Chromium launched the way CI has it.
import PocketBase from 'pocketbase';
import { chromium } from 'playwright-core';

export const URL = process.env.PICRM_URL;
export const PASSWORD = process.env.PICRM_PASSWORD || 'pi-crm-demo';
export const CHROMIUM = process.env.PICRM_CHROMIUM || '/usr/bin/chromium';
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export function client() {
  const pb = new PocketBase(URL);
  pb.autoCancellation(false);
  return pb;
}

export async function superuser() {
  const pb = client();
  await pb.collection('_superusers').authWithPassword('admin@example.com', PASSWORD);
  return pb;
}

// impersonate returns an SDK client logged in as the user with this email,
// through the superuser (no password attempt).
export async function impersonate(su, email) {
  const user = await su.collection('users').getFirstListItem(su.filter('email = {:e}', { e: email }));
  const imp = await su.collection('users').impersonate(user.id, 3600);
  const pb = client();
  pb.authStore.save(imp.authStore.token, imp.authStore.record);
  return pb;
}

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync',
    ],
  });
}

// context opens a fresh browser context already logged in as pb's user (the
// SDK's localStorage entry), showing workspace ws.
export async function context(browser, pb, { ws = '', viewport = DESKTOP } = {}) {
  const localStorage = [];
  if (pb) {
    localStorage.push({ name: 'pocketbase_auth', value: JSON.stringify({ token: pb.authStore.token, record: pb.authStore.record }) });
  }
  if (ws) localStorage.push({ name: 'picrm.workspace', value: ws });
  const ctx = await browser.newContext({ viewport, storageState: { cookies: [], origins: [{ origin: URL, localStorage }] } });
  ctx.setDefaultTimeout(10_000);
  return ctx;
}

// page opens a page that fails the test on uncaught errors and on any
// dialog (alert/confirm: the app never uses them; an XSS would).
export async function page(ctx, problems) {
  const p = await ctx.newPage();
  p.on('pageerror', (e) => problems.push('page error: ' + e.message));
  p.on('dialog', async (d) => {
    problems.push(`dialog (${d.type()}): ${d.message()}`);
    await d.dismiss();
  });
  return p;
}

// openAt opens path in a fresh context logged in as pb's user, showing
// workspace; page errors and dialogs go to problems.
export async function openAt(browser, problems, pb, path, { workspace = '', viewport = DESKTOP } = {}) {
  const ctx = await context(browser, pb, { ws: workspace, viewport });
  const p = await page(ctx, problems);
  await p.goto(URL + path);
  return { ctx, p };
}
