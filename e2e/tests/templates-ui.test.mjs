// Browser tests of the templates UI (ui/src/views/Templates.svelte,
// TemplateEditor.svelte, settings/AiTab.svelte) in Debian's Chromium through
// playwright-core, against the real seeded server run.mjs starts and, for the
// AI wizard, the local OpenAI-compatible fake (../ai-fake.mjs).
//
// The records the tests need are made here: a custom field and two contacts
// in Shared, and a user of its own with two fresh workspaces (one gets an AI
// provider through the settings tab, one never does), so no other test file's
// AI settings matter.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { URL, PASSWORD, DESKTOP, PHONE, superuser, impersonate, launch, openAt } from '../ui-helpers.mjs';
import { startAIFake, UPSTREAM_MESSAGE } from '../ai-fake.mjs';

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');
mkdirSync(SHOTS, { recursive: true });
const shot = (p, name) => p.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });

const tag = `tu${Date.now().toString(36)}`;
const plan = `plan_${tag}`;
let su, andy, viewer, owner, browser, fake;
const ws = {};
const problems = [];

before(async () => {
  su = await superuser();
  andy = await impersonate(su, 'andy@example.com');
  ws.Shared = (await su.collection('workspaces').getFirstListItem('name = "Shared"')).id;

  await andy.collection('custom_field_definitions').create({
    user: andy.authStore.record.id, workspace: ws.Shared, field_name: plan, label: 'Plan', field_type: 'text',
  });
  await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Ada', last_name: `${tag}-Basic`, custom: { [plan]: 'Basic' } });
  await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Bob', last_name: `${tag}-Pro`, custom: { [plan]: 'Pro' } });

  const mk = async (email, name) => {
    const u = await su.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name, verified: true });
    return { u, pb: await impersonate(su, email) };
  };
  const v = await mk(`${tag}.viewer@example.org`, 'Val Viewer');
  await su.collection('workspace_members').create({ workspace: ws.Shared, user: v.u.id, role: 'viewer' });
  viewer = v.pb;
  const o = await mk(`${tag}.owner@example.org`, 'Olga Owner');
  owner = o.pb;
  ws.ai = (await owner.collection('workspaces').create({ name: `${tag} with AI`, owner: o.u.id })).id;
  ws.noai = (await owner.collection('workspaces').create({ name: `${tag} without AI`, owner: o.u.id })).id;

  browser = await launch();
  fake = await startAIFake();
});

after(async () => {
  await browser?.close();
  await fake?.close();
});

const open = (pb, path, { workspace = ws.Shared, viewport = DESKTOP } = {}) =>
  openAt(browser, problems, pb, path, { workspace, viewport });

const uiTest = (name, fn) => test(name, { timeout: 60_000 }, fn);
const assertNoProblems = () => assert.deepEqual(problems, [], 'page errors or dialogs');

async function pickContact(p, term, name) {
  const selected = p.getByTestId('preview-contact-selected');
  if (await selected.count()) await p.locator('.picker').getByRole('button', { name: 'Change' }).click();
  await p.locator('#preview-contact').fill(term);
  await p.getByRole('list', { name: 'Preview for contact results' }).getByRole('button', { name: new RegExp(name) }).click();
  await selected.getByText(new RegExp(name)).waitFor();
}

uiTest('email editor: the live preview renders a custom field per contact in a sandboxed iframe where scripts do not run', async () => {
  const { ctx, p } = await open(andy, '/templates');
  await p.getByRole('heading', { name: 'Templates' }).waitFor();
  await p.getByRole('button', { name: 'New email' }).click();
  await p.getByRole('heading', { name: 'New email template' }).waitFor();
  await p.getByLabel('Name').fill(`${tag} plans`);
  await p.getByLabel('Subject').fill('Your plan, {{first_name}}');
  await p.getByLabel('HTML').fill(
    `<h1>Hello {{first_name | default "there"}}</h1>\n<p>Your plan: {{custom.${plan}}}</p>\n` +
      `<script>alert('script ran'); document.write('SCRIPT RAN');</script>\n<p id="end">end</p>`,
  );
  const frame = p.frameLocator('iframe[title="Email preview"]');
  await frame.getByText('Hello there').waitFor(); // no contact yet: the default

  await pickContact(p, `${tag}-Basic`, 'Ada');
  await frame.getByText('Your plan: Basic').waitFor();
  await p.getByTestId('preview-subject').getByText('Your plan, Ada').waitFor();
  await pickContact(p, `${tag}-Pro`, 'Bob');
  await frame.getByText('Your plan: Pro').waitFor();
  await frame.getByText('Hello Bob').waitFor();
  assert.equal(await frame.getByText('Your plan: Basic').count(), 0);

  const iframe = p.locator('iframe[title="Email preview"]');
  assert.equal(await iframe.getAttribute('sandbox'), '', 'sandbox with no permissions');
  assert.match(await iframe.getAttribute('srcdoc'), /<script>/, 'the script reached the iframe');
  await frame.locator('#end').waitFor();
  assert.equal(await frame.getByText('SCRIPT RAN').count(), 0, 'the script did not run');
  await p.getByTestId('text-auto').getByText('Generated from the HTML.').waitFor();
  await p.getByTestId('preview-text').getByText(/Your plan: Pro/).waitFor();

  // placeholders go in at the cursor
  await p.getByLabel('Subject').click();
  await p.getByLabel('Subject').press('Home');
  await p.getByLabel('Placeholder').selectOption('company');
  await p.getByRole('button', { name: 'Insert' }).click();
  assert.equal(await p.getByLabel('Subject').inputValue(), '{{company}}Your plan, {{first_name}}');
  await shot(p, 'template-editor-desktop');

  await p.getByRole('button', { name: 'Create template' }).click();
  await p.waitForURL(/\/templates\/[a-z0-9]{15}$/);
  await p.getByRole('status').getByText('Saved.').waitFor();
  const rec = await andy.collection('templates').getOne(p.url().split('/').pop());
  assert.equal(rec.subject, '{{company}}Your plan, {{first_name}}');
  assert.equal(rec.status, 'ready');
  assert.equal(rec.text_auto, true);
  await p.getByTestId('version-info').getByText(/Version 1/).waitFor();

  // the list shows it; the channel filter hides it for SMS
  await p.getByRole('link', { name: '← Templates' }).click();
  const row = p.locator('tbody tr', { hasText: `${tag} plans` });
  await row.getByText('ready').waitFor();
  await p.getByLabel('Channel').selectOption('sms');
  await row.waitFor({ state: 'detached' });
  await p.getByLabel('Channel').selectOption('email');
  await row.getByRole('link').click();
  await p.getByTestId('template-title').getByText(`${tag} plans`).waitFor();
  await p.setViewportSize(PHONE);
  await shot(p, 'template-editor-phone');
  await ctx.close();
  assertNoProblems();
});

uiTest('a broken template shows its error at the line, in the gutter, and the save is refused', async () => {
  const { ctx, p } = await open(andy, '/templates/new?channel=email');
  await p.getByLabel('Name').fill(`${tag} broken`);
  await p.getByLabel('Subject').fill('Hello');
  await p.getByLabel('HTML').fill('<p>one</p>\n<p>two</p>\n<p>{{first_name | nosuch}}</p>');
  const err = p.getByTestId('t-body_html-error');
  await err.getByText(/^Line 3, column \d+: /).waitFor();
  assert.match(await err.textContent(), /nosuch/);
  assert.deepEqual(await p.locator('[data-field="t-body_html"] .gutter li.error-line').allTextContents(), ['3']);
  assert.equal(await p.getByLabel('HTML').getAttribute('aria-invalid'), 'true');
  await p.getByRole('button', { name: 'Go to line 3' }).click();
  const caret = await p.getByLabel('HTML').evaluate((el) => el.value.slice(0, el.selectionStart).split('\n').length);
  assert.equal(caret, 3, 'the cursor is on the line of the error');

  await p.getByRole('button', { name: 'Create template' }).click();
  await p.getByTestId('save-error').getByText(/^Not saved: HTML, line 3/).waitFor();
  assert.match(p.url(), /\/templates\/new/);

  // an unknown custom field, on line 2
  await p.getByLabel('HTML').fill('<p>one</p>\n<p>{{custom.nope}}</p>');
  await err.getByText(/^Line 2/).waitFor();
  assert.deepEqual(await p.locator('[data-field="t-body_html"] .gutter li.error-line').allTextContents(), ['2']);
  await p.getByRole('button', { name: 'Create template' }).click();
  await p.getByTestId('save-error').getByText(/^Not saved: HTML, line 2/).waitFor();
  await shot(p, 'template-invalid-desktop');
  assert.equal((await andy.collection('templates').getFullList({ filter: andy.filter('name = {:n}', { n: `${tag} broken` }) })).length, 0);

  // an error in the subject shows under the subject
  await p.getByLabel('HTML').fill('<p>fine</p>');
  await p.getByLabel('Subject').fill('Hi {{frist_name}}');
  await p.getByTestId('t-subject-error').waitFor();
  assert.equal(await p.locator('.gutter li.error-line').count(), 0);

  // fixed: the errors go and the save goes through
  await p.getByLabel('Subject').fill('Hi {{first_name}}');
  await p.getByTestId('t-subject-error').waitFor({ state: 'detached' });
  await p.getByRole('button', { name: 'Create template' }).click();
  await p.waitForURL(/\/templates\/[a-z0-9]{15}$/);
  await ctx.close();
  assertNoProblems();
});

uiTest('SMS editor: the counter at the segment boundaries, € counts two, an emoji switches to UCS-2', async () => {
  const { ctx, p } = await open(andy, '/templates');
  await p.getByRole('button', { name: 'New SMS' }).click();
  await p.getByRole('heading', { name: 'New SMS template' }).waitFor();
  const body = p.getByLabel('Message');
  const counter = async () => ({
    encoding: await p.getByTestId('sms-encoding').textContent(),
    characters: Number(await p.getByTestId('sms-characters').textContent()),
    segments: Number(await p.getByTestId('sms-segments').textContent()),
  });
  assert.equal(await p.getByTestId('sms-counter').getAttribute('aria-live'), 'polite');

  await body.fill('a'.repeat(160));
  assert.deepEqual(await counter(), { encoding: 'GSM-7', characters: 160, segments: 1 });
  await body.press('End');
  await body.pressSequentially('a');
  assert.deepEqual(await counter(), { encoding: 'GSM-7', characters: 161, segments: 2 });
  await body.pressSequentially('€');
  assert.deepEqual(await counter(), { encoding: 'GSM-7', characters: 163, segments: 2 });
  await body.fill('a'.repeat(161) + '€😀');
  assert.deepEqual(await counter(), { encoding: 'UCS-2', characters: 164, segments: 3 });
  // the server's count of the rendered message agrees
  await p.getByTestId('sms-server').filter({ hasText: /: 164 characters, 3\s+segments \(UCS-2\)/ }).waitFor();

  // for a contact the rendered length differs from the source's
  await p.getByLabel('Name').fill(`${tag} sms`);
  // the source's braces are GSM-7 extension characters (two each), the rendered text has none
  await body.fill('Hi {{first_name}} €');
  assert.deepEqual(await counter(), { encoding: 'GSM-7', characters: 24, segments: 1 });
  await pickContact(p, `${tag}-Basic`, 'Ada');
  await p.getByTestId('preview-sms').getByText('Hi Ada €').waitFor();
  await p.getByTestId('sms-server').filter({ hasText: /Rendered for Ada \S+: 9 characters, 1\s+segment \(GSM-7\)/ }).waitFor();
  await shot(p, 'template-sms-desktop');
  await p.getByRole('button', { name: 'Create template' }).click();
  await p.waitForURL(/\/templates\/[a-z0-9]{15}$/);
  const rec = await andy.collection('templates').getOne(p.url().split('/').pop());
  assert.equal(rec.channel, 'sms');
  assert.equal(rec.body_text, 'Hi {{first_name}} €');
  await ctx.close();
  assertNoProblems();
});

uiTest('AI settings in the browser, test connection, Draft with AI against the fake, edit, save, mark ready, rewrite; upstream, bad-output and timeout errors; remove the key', async () => {
  const { ctx, p } = await open(owner, '/settings/ai', { workspace: ws.ai });
  await p.getByTestId('ai-configured').getByText('AI is not set up for this workspace yet.').waitFor();
  // the server's field errors sit under their fields
  await p.getByLabel('Base URL').fill('ftp://nowhere.example');
  await p.getByRole('button', { name: 'Save' }).click();
  await p.locator('.form-field', { has: p.getByLabel('Base URL') }).locator('.field-error').waitFor();
  await p.locator('.form-field', { has: p.getByLabel('Model') }).locator('.field-error').waitFor();
  await p.getByLabel('Base URL').fill(fake.url);
  await p.getByLabel('Model').fill('fake-model');
  await p.getByLabel('API key').fill('sk-e2e-secret');
  await p.getByLabel('Timeout (seconds)').fill('10');
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByText('AI settings saved.').waitFor();
  await p.getByTestId('ai-key-note').getByText('A key is saved.').waitFor();
  assert.equal(await p.getByLabel('API key').inputValue(), '', 'the key is never shown');
  assert.equal(await p.getByLabel('API key').getAttribute('type'), 'password');
  await p.getByTestId('ai-configured').getByText('AI is set up for this workspace.').waitFor();
  const saved = await owner.send(`/api/crm/workspaces/${ws.ai}/providers/ai`, { method: 'GET' });
  assert.equal(saved.has_api_key, true);
  assert.doesNotMatch(JSON.stringify(saved), /sk-e2e-secret/);

  // saving again with the key field empty keeps the key
  await p.getByLabel('Model').fill('fake-model');
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByText('AI settings saved.').waitFor();
  await p.getByTestId('ai-key-note').getByText('A key is saved.').waitFor();

  const before = fake.requests.length;
  await p.getByRole('button', { name: 'Test connection' }).click();
  await p.getByTestId('ai-test-ok').getByText(/the model fake-model answered in \d+ ms/).waitFor();
  assert.equal(fake.requests.length, before + 1, 'one call to the model');
  await shot(p, 'settings-ai-desktop');

  await p.getByRole('link', { name: 'Templates' }).click();
  await p.getByRole('button', { name: 'Draft with AI' }).click();
  await p.getByLabel('Goal').fill('announce the spring sale');
  await p.getByLabel('Audience').fill('existing customers');
  await p.getByLabel('Tone').fill('friendly');
  await p.getByLabel('Must include').fill('the unsubscribe link');
  await p.getByRole('button', { name: 'Add', exact: true }).click();
  await p.getByRole('list', { name: 'Things to include' }).getByText('the unsubscribe link').waitFor();
  await p.getByLabel('Template name (optional)').fill(`${tag} spring`);
  await p.getByRole('button', { name: 'Draft it' }).click();

  await p.waitForURL(/\/templates\/[a-z0-9]{15}$/);
  await p.getByTestId('draft-banner').getByText('Draft — review before use.').waitFor();
  assert.match(await p.getByLabel('HTML').inputValue(), /spring sale/);
  const brief = fake.requests.at(-1);
  assert.match(JSON.stringify(brief), /announce the spring sale/);
  await p.frameLocator('iframe[title="Email preview"]').getByText(/spring sale starts today/).waitFor();
  await shot(p, 'template-ai-draft-desktop');

  const id = p.url().split('/').pop();
  await p.getByLabel('Subject').fill('Spring sale: 20% off, {{first_name | default "friend"}}');
  await p.getByRole('button', { name: 'Save', exact: true }).click();
  await p.getByRole('status').getByText('Saved.').waitFor();
  await p.getByRole('button', { name: 'Mark ready' }).click();
  await p.getByTestId('draft-banner').waitFor({ state: 'detached' });
  const rec = await owner.collection('templates').getOne(id);
  assert.equal(rec.status, 'ready');
  assert.equal(rec.subject, 'Spring sale: 20% off, {{first_name | default "friend"}}');
  assert.equal(rec.ai_prompt?.goal, 'announce the spring sale');

  // Rewrite with AI: a new draft version that links to this one, which stays
  await p.getByRole('button', { name: 'Rewrite with AI' }).click();
  await p.getByLabel(/How should the AI change it/).fill('shorter, please');
  await p.getByRole('button', { name: 'Rewrite', exact: true }).click();
  await p.waitForURL((u) => /\/templates\/[a-z0-9]{15}$/.test(u.pathname) && !u.pathname.endsWith(id));
  await p.getByTestId('version-info').getByText(/Version 2/).waitFor();
  await p.getByTestId('draft-banner').waitFor();
  const v2 = await owner.collection('templates').getOne(p.url().split('/').pop());
  assert.equal(v2.previous, id);
  assert.equal(v2.status, 'draft');
  assert.match(JSON.stringify(fake.requests.at(-1)), /shorter, please/);
  await p.getByTestId('version-info').getByRole('link', { name: 'previous version' }).click();
  await p.waitForURL((u) => u.pathname.endsWith('/templates/' + id));
  await p.getByTestId('version-info').getByText(/Version 1/).waitFor();

  // an upstream failure is said plainly, with the server's message
  fake.setMode('error500');
  try {
    await p.getByRole('button', { name: 'Draft with AI' }).click();
    await p.getByLabel('Goal').fill('something else');
    await p.getByRole('button', { name: 'Draft it' }).click();
    await p.getByTestId('ai-error').getByText('The AI server refused the request.').waitFor();
    assert.match(await p.getByTestId('ai-error').textContent(), new RegExp(UPSTREAM_MESSAGE));
    // an answer that is not a usable draft
    fake.setMode('malformed');
    await p.getByRole('button', { name: 'Draft it' }).click();
    await p.getByTestId('ai-error').getByText("The AI's answer could not be used.").waitFor();
    assert.ok((await p.getByTestId('ai-reason').textContent()).trim().length > 0, 'the reason is shown');
  } finally {
    fake.setMode('ok');
  }

  // a model slower than the timeout: said as such
  await p.goto(URL + '/settings/ai');
  await p.getByLabel('Timeout (seconds)').fill('1');
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByText('AI settings saved.').waitFor();
  fake.setMode('slow');
  try {
    await p.getByRole('link', { name: 'Templates' }).click();
    await p.getByRole('button', { name: 'Draft with AI' }).click();
    await p.getByLabel('Goal').fill('a slow one');
    await p.getByRole('button', { name: 'Draft it' }).click();
    await p.getByTestId('spinner').waitFor();
    await p.getByTestId('ai-error').getByText('The AI model did not answer in time.').waitFor();
  } finally {
    fake.setMode('ok');
  }

  // "remove the saved key" clears it
  await p.goto(URL + '/settings/ai');
  await p.getByLabel('Remove the saved key').check();
  await p.getByRole('button', { name: 'Save' }).click();
  await p.getByText('AI settings saved.').waitFor();
  await p.getByTestId('ai-key-note').getByText('No key is saved.').waitFor();
  assert.equal((await owner.send(`/api/crm/workspaces/${ws.ai}/providers/ai`, { method: 'GET' })).has_api_key, false);
  await ctx.close();
  assertNoProblems();
});

uiTest('with AI not configured the wizard says so plainly and links to the AI settings', async () => {
  const { ctx, p } = await open(owner, '/templates', { workspace: ws.noai });
  await p.getByRole('button', { name: 'Draft with AI' }).click();
  await p.getByLabel('Goal').fill('welcome new customers');
  await p.getByRole('button', { name: 'Draft it' }).click();
  const err = p.getByTestId('ai-error');
  await err.getByText('AI is not set up for this workspace.').waitFor();
  assert.equal(await err.getAttribute('data-code'), 'ai_not_configured');
  await shot(p, 'template-ai-not-configured-desktop');
  await err.getByRole('link', { name: 'the AI settings' }).click();
  await p.waitForURL(/\/settings\/ai$/);
  await p.getByLabel('Base URL').waitFor();
  assert.equal((await owner.collection('templates').getFullList({ filter: owner.filter('workspace = {:w}', { w: ws.noai }) })).length, 0, 'nothing saved');
  await ctx.close();
  assertNoProblems();
});

uiTest('a viewer sees templates and the AI tab but cannot change them', async () => {
  const { ctx, p } = await open(viewer, '/templates');
  await p.locator('tbody tr', { hasText: `${tag} plans` }).waitFor();
  assert.equal(await p.getByRole('button', { name: 'New email' }).count(), 0);
  assert.equal(await p.getByRole('button', { name: 'Draft with AI' }).count(), 0);
  await p.locator('tbody tr', { hasText: `${tag} plans` }).getByRole('link').click();
  await p.getByText('You can read this template').waitFor();
  assert.equal(await p.getByRole('button', { name: 'Save' }).count(), 0);
  assert.ok(await p.getByLabel('HTML').isDisabled());
  await p.goto(URL + '/settings/ai');
  await p.getByTestId('ai-admin-only').waitFor();
  assert.equal(await p.getByRole('button', { name: 'Save' }).count(), 0);
  await ctx.close();
  assertNoProblems();
});
