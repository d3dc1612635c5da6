// Browser tests of the remote providers' settings and the suppressions list
// (ui/src/views/settings/RemoteProviderTab.svelte, SuppressionsTab.svelte)
// in Debian's Chromium against the real seeded server: Monalisa (admin of
// Shared) sets Mailgun up with the console hints and the default limits in
// view, the API key write-only, and sends a test message to a local
// Mailgun stand-in (base_url); sets Twilio up the same way; reads the
// suppressions by channel and reason, adds one and lifts it. A viewer sees
// the forms read-only and no lift buttons.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { URL, superuser, impersonate, launch, openAt } from '../ui-helpers.mjs';
import { fixtures } from '../campaign-fixtures.mjs';
import { configured } from '../secrets.mjs';

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

const tag = `pv${Date.now().toString(36)}`;
const MG_KEY = `key-e2e-${tag}-never-shown`;
const TW_TOKEN = 'e2etoken' + tag;
configured(MG_KEY, TW_TOKEN);
let su, fx, mona, viewer, browser, fake;
const problems = [];
const received = [];

before(async () => {
  su = await superuser();
  fx = await fixtures(su, tag);
  ({ mona, viewer } = fx);
  mona = await impersonate(su, 'monalisa@example.com');
  // a Mailgun stand-in: POST /v3/{domain}/messages (multipart) answers Mailgun's shape
  fake = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ method: req.method, path: req.url, auth: req.headers.authorization || '', body });
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ id: `<${tag}@mg.example.com>`, message: 'Queued. Thank you.' }));
    });
  });
  await new Promise((r) => fake.listen(0, '127.0.0.1', r));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  fake?.close();
});

const open = (pb, path) => openAt(browser, problems, pb, path, { workspace: fx.ws });
const uiTest = (name, fn) => test(name, { timeout: 90_000 }, fn);

uiTest('Monalisa sets Mailgun up: hints, default limits, a write-only key, a test message', async () => {
  const { ctx, p } = await open(mona, '/settings/mailgun');
  await p.getByRole('form', { name: 'Mailgun settings' }).waitFor();
  await p.getByText('Mailgun → Send → Sending → Domains', { exact: false }).waitFor();
  assert.match(await p.getByTestId('provider-default-limits').textContent(), /unlimited.*configurable/i);
  await p.getByLabel('From', { exact: true }).fill('Shop <news@mg.example.com>');
  await p.getByLabel('Sending domain').fill('mg.example.com');
  await p.getByLabel('API key').fill(MG_KEY);
  await p.getByLabel('Region').selectOption('eu');
  await p.getByLabel('API base URL').fill(`http://127.0.0.1:${fake.address().port}`);
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByTestId('provider-saved').waitFor();
  assert.equal(await p.getByTestId('secret-note-api_key').textContent(), 'Saved. It is never shown again.');
  assert.equal(await p.getByLabel('API key').inputValue(), '', 'the key is never shown again');
  assert.match(await p.getByTestId('provider-configured').textContent(), /Set up/);
  // a bad field: its message under the field, nothing saved
  await p.getByLabel('API base URL').fill('ftp://nope');
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByText('a scheme and host only', { exact: false }).first().waitFor();

  await p.getByLabel('Send a test message to').fill('me@example.org');
  await p.getByRole('button', { name: 'Send test' }).click();
  await p.getByTestId('provider-test-ok').waitFor();
  // the test message, then its look-up in the domain's events (the form's look-up line)
  const posts = received.filter((r) => r.method === 'POST');
  assert.equal(posts.length, 1, 'one message reached the Mailgun stand-in');
  assert.equal(posts[0].path, '/v3/mg.example.com/messages');
  assert.ok(received.filter((r) => r.method === 'GET').every((r) => r.path.startsWith('/v3/mg.example.com/events')), 'and nothing else but a look-up');
  assert.match(posts[0].body, /me@example\.org/);
  assert.equal(posts[0].auth, 'Basic ' + Buffer.from('api:' + MG_KEY).toString('base64'));
  // the key is in no answer the page read
  const view = await mona.send(`/api/crm/workspaces/${fx.ws}/providers/mailgun`, { method: 'GET' });
  assert.equal(view.has_api_key, true);
  assert.ok(!JSON.stringify(view).includes(MG_KEY));
  await ctx.close();
  assert.deepEqual(problems, []);
});

uiTest('Monalisa sets Twilio up; its default limit is in segments', async () => {
  const { ctx, p } = await open(mona, '/settings/twilio');
  await p.getByRole('form', { name: 'Twilio settings' }).waitFor();
  assert.match(await p.getByTestId('provider-default-limits').textContent(), /1 segments a second/);
  await p.getByLabel('Account SID').fill('AC0123456789abcdef0123456789abcdef');
  await p.getByLabel('Auth token').fill(TW_TOKEN);
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByText('a from number or a messaging_service_sid is required', { exact: true }).waitFor();
  await p.getByLabel('From number').fill('+15017122661');
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByTestId('provider-saved').waitFor();
  assert.equal(await p.getByTestId('secret-note-auth_token').textContent(), 'Saved. It is never shown again.');
  await ctx.close();
  assert.deepEqual(problems, []);
});

uiTest('The suppressions list: filter by channel and reason, an admin adds and lifts one; a viewer only reads', async () => {
  const { ctx, p } = await open(mona, '/settings/suppressions');
  const table = p.getByTestId('suppressions');
  await table.getByText(`eve.${tag}@example.org`).waitFor();
  await p.getByTestId('supp-reason').selectOption('hard_bounce');
  await table.getByText(`eve.${tag}@example.org`).waitFor({ state: 'detached' });
  await p.getByTestId('supp-reason').selectOption('');
  await p.getByLabel('Channel of the new suppression').selectOption('sms');
  const phone = '+1415555' + String(Date.now()).slice(-4);
  await p.getByLabel('Address to suppress').fill(phone);
  await p.getByRole('button', { name: 'Add' }).click();
  await table.getByText(phone).waitFor();
  await p.getByTestId('supp-channel').selectOption('sms');
  await table.getByText(`eve.${tag}@example.org`).waitFor({ state: 'detached' });
  await table.getByText(phone).waitFor();
  await p.getByRole('button', { name: 'Lift the suppression of ' + phone }).click();
  await table.getByText(phone).waitFor({ state: 'detached' });
  await ctx.close();

  const v = await open(viewer, '/settings/suppressions');
  await v.p.getByTestId('suppressions').getByText(`eve.${tag}@example.org`).waitFor();
  assert.equal(await v.p.getByRole('button', { name: /Lift the suppression/ }).count(), 0);
  await v.ctx.close();
  assert.deepEqual(problems, []);
});
