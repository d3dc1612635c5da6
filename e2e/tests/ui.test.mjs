// Browser tests of the web UI (ui/, embedded in the binary) in Debian's
// Chromium through playwright-core, against the real seeded server that
// run.mjs starts. Screenshots of the main views at desktop and phone width go
// to e2e/screenshots/ (not committed).
//
// Sessions: the login form is exercised once (failure, rate-limit message,
// success, reload, logout); every other test starts a fresh context with a
// stored session of an impersonated user (see ui-helpers.mjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import EventSource from 'eventsource';
import { URL, PASSWORD, DESKTOP, PHONE, superuser, impersonate, launch, context, page as openPage, openAt } from '../ui-helpers.mjs';

globalThis.EventSource ??= EventSource;
assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');
mkdirSync(SHOTS, { recursive: true });

const tag = `ui${Date.now().toString(36)}`;
let su, andy, mona, viewer, browser;
const ws = {}; // name -> id
const problems = []; // page errors and dialogs seen by any page

async function wsId(name) {
  const w = await su.collection('workspaces').getFirstListItem(su.filter('name = {:n}', { n: name }));
  return w.id;
}

before(async () => {
  su = await superuser();
  andy = await impersonate(su, 'andy@example.com');
  mona = await impersonate(su, 'monalisa@example.com');
  for (const n of ["Andy's workspace", "Monalisa's workspace", 'Shared']) ws[n] = await wsId(n);
  // a viewer of Shared, made by the superuser
  const email = `${tag}.viewer@example.org`;
  const u = await su.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name: 'Vera Viewer', verified: true });
  await su.collection('workspace_members').create({ workspace: ws.Shared, user: u.id, role: 'viewer' });
  viewer = await impersonate(su, email);
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

const open = (pb, path, { workspace = ws.Shared, viewport = DESKTOP } = {}) =>
  openAt(browser, problems, pb, path, { workspace, viewport });

// each browser test gets its own minute (run.mjs's timeout covers the file)
const uiTest = (name, fn) => test(name, { timeout: 60_000 }, fn);

const shot = (p, name) => p.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });

function assertNoProblems() {
  assert.deepEqual(problems, [], 'page errors or dialogs');
}

uiTest('login: wrong password, rate-limit message, success, session kept across reloads, logout', async () => {
  const ctx = await context(browser, null);
  const p = await openPage(ctx, problems);
  await p.goto(URL + '/');
  await p.getByLabel('Email').fill('andy@example.com');
  await p.getByLabel('Password').fill('not-the-password');
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByTestId('login-error').getByText('Wrong email or password.').waitFor();
  await shot(p, 'login-error-desktop');

  // the server's 429 (10 attempts per minute and IP) is shown as such; the
  // answer is simulated so the test does not use up the real limit
  await p.route('**/api/collections/users/auth-with-password', (r) =>
    r.fulfill({ status: 429, contentType: 'application/json', body: JSON.stringify({ status: 429, message: 'Too Many Requests.', data: {} }) }),
  );
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByTestId('login-error').getByText(/Too many attempts/).waitFor();
  await p.unroute('**/api/collections/users/auth-with-password');

  await p.getByLabel('Password').fill(PASSWORD);
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByRole('heading', { name: /Dashboard/ }).waitFor();
  await p.getByTestId('contacts-count').filter({ hasText: /^\d+$/ }).waitFor();

  await p.reload();
  await p.getByRole('heading', { name: /Dashboard/ }).waitFor(); // still logged in
  await p.getByRole('button', { name: 'Log out' }).click();
  await p.getByRole('button', { name: 'Log in' }).waitFor();
  await p.reload();
  await p.getByRole('button', { name: 'Log in' }).waitFor(); // and stays logged out
  await p.setViewportSize(PHONE);
  await shot(p, 'login-phone');
  await ctx.close();
  assertNoProblems();
});

uiTest('create and edit a contact with custom fields; server validation shown on the field', async () => {
  const { ctx, p } = await open(andy, '/contacts/new');
  await p.getByRole('heading', { name: 'New contact' }).waitFor();
  await p.getByLabel('First name').fill('Cora');
  await p.getByLabel('Last name').fill(`${tag}-Custom`);
  await p.locator('#f-primary_email').fill(`${tag}.cora@example.org`);
  await p.getByLabel('Lead score').fill('42');
  await p.getByLabel('Website').fill('not a web address');
  await p.getByRole('button', { name: 'Create contact' }).click();

  // the server refuses the URL: the message sits under the Website input
  const websiteError = p.locator('[data-field="custom.website"] .field-error');
  await websiteError.waitFor();
  assert.ok((await websiteError.textContent()).trim().length > 0);
  assert.equal(await p.getByLabel('Website').getAttribute('aria-invalid'), 'true');
  assert.equal(await p.locator('[data-field="custom.lead_score"] .field-error').count(), 0, 'no error on a valid field');
  await shot(p, 'contact-validation-desktop');

  await p.getByLabel('Website').fill('https://cora.example.org');
  await p.getByLabel('Industry').selectOption('Retail');
  await p.getByRole('group', { name: 'Interests' }).getByLabel('Email').check();
  await p.getByRole('button', { name: 'Create contact' }).click();
  await p.waitForURL(/\/contacts\/[a-z0-9]{15}$/);
  await p.getByTestId('contact-title').getByText(`Cora ${tag}-Custom`).waitFor();
  const id = p.url().split('/').pop();

  let rec = await andy.collection('contacts').getOne(id);
  assert.equal(rec.custom.lead_score, 42);
  assert.equal(rec.custom.industry, 'Retail');
  assert.deepEqual(rec.custom.interests, ['Email']);
  assert.equal(rec.custom.website, 'https://cora.example.org');

  // edit: a base field and a custom field
  await p.getByLabel('Company').fill('Cora & Co');
  await p.getByLabel('Lead score').fill('7');
  await p.getByRole('button', { name: 'Save', exact: true }).click();
  await p.getByRole('status').getByText('Saved.').waitFor();
  rec = await andy.collection('contacts').getOne(id);
  assert.equal(rec.company, 'Cora & Co');
  assert.equal(rec.custom.lead_score, 7);

  // the edit is on the timeline; a note is added through the form
  await p.getByTestId('timeline').getByText(/Contact updated/).first().waitFor();
  await p.getByLabel('Note text').fill(`Met ${tag} at the fair`);
  await p.getByRole('button', { name: 'Add note' }).click();
  await p.getByTestId('timeline').getByText(`Met ${tag} at the fair`).waitFor();
  // log a call
  await p.getByRole('radio', { name: 'Call' }).check();
  await p.getByLabel('Call notes').fill('Called about the quote');
  await p.getByRole('button', { name: 'Log call' }).click();
  await p.getByTestId('timeline').getByText('Called about the quote').waitFor();
  await shot(p, 'contact-detail-desktop');
  await p.setViewportSize(PHONE);
  await shot(p, 'contact-detail-phone');
  await ctx.close();
  assertNoProblems();
});

uiTest('a duplicate email is refused with a link to the existing contact', async () => {
  const existing = await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Dana', last_name: `${tag}-Dup`, primary_email: `${tag}.dana@example.org` });
  const { ctx, p } = await open(andy, '/contacts/new');
  await p.getByLabel('First name').fill('Dana2');
  await p.locator('#f-primary_email').fill(`  ${tag}.DANA@example.org `); // same after normalisation
  await p.getByRole('button', { name: 'Create contact' }).click();
  const warning = p.getByTestId('duplicate-warning');
  await warning.waitFor();
  const href = await warning.getByRole('link', { name: 'Open the existing contact' }).getAttribute('href');
  assert.equal(href, '/contacts/' + existing.id);
  await shot(p, 'contact-duplicate-desktop');
  await warning.getByRole('link', { name: 'Open the existing contact' }).click();
  await p.getByTestId('contact-title').getByText(`Dana ${tag}-Dup`).waitFor();
  await ctx.close();
  assertNoProblems();
});

uiTest('contacts list: search as you type, sort, bulk add to list and delete', async () => {
  const made = [];
  for (const n of ['Alpha', 'Bravo', 'Charlie']) {
    made.push(await andy.collection('contacts').create({ workspace: ws.Shared, first_name: n, last_name: `${tag}-List`, primary_email: `${tag}.${n}@example.org` }));
  }
  const { ctx, p } = await open(andy, '/contacts');
  await p.getByRole('heading', { name: 'Contacts' }).waitFor();
  await shot(p, 'contacts-desktop');
  await p.getByLabel('Search contacts').fill(`${tag}-list`);
  const rows = p.locator('tbody tr[data-id]');
  await p.waitForFunction((n) => document.querySelectorAll('tbody tr[data-id]').length === n, 3);
  // sort by email, descending
  await p.getByRole('button', { name: /^Email/ }).click();
  await p.getByRole('button', { name: /^Email/ }).click();
  await p.waitForFunction(() => document.querySelector('tbody tr[data-id] td:nth-child(3)')?.textContent.includes('charlie'));

  await rows.nth(0).getByRole('checkbox').check();
  await rows.nth(1).getByRole('checkbox').check();
  const newsletter = (await andy.collection('contact_lists').getFirstListItem(andy.filter('workspace = {:w} && name = "Newsletter"', { w: ws.Shared }))).id;
  await p.getByLabel('Add to list').selectOption(newsletter);
  await p.getByRole('button', { name: 'Add', exact: true }).click();
  await p.getByText(/contact\(s\) added to Newsletter/).waitFor();
  const inList = await andy.collection('contact_list_assignments').getFullList({ filter: andy.filter('list = {:l} && contact.last_name = {:n}', { l: newsletter, n: `${tag}-List` }) });
  assert.equal(inList.length, 2);

  await p.getByRole('button', { name: 'Delete selected' }).click();
  await p.getByRole('button', { name: 'Yes, delete' }).click();
  await p.getByText('2 contact(s) deleted.').waitFor();
  await p.waitForFunction(() => document.querySelectorAll('tbody tr[data-id]').length === 1);
  const left = await andy.collection('contacts').getFullList({ filter: andy.filter('last_name = {:n}', { n: `${tag}-List` }) });
  assert.deepEqual(left.map((c) => c.first_name), ['Alpha']);
  await p.setViewportSize(PHONE);
  await p.getByRole('button', { name: 'Menu' }).click();
  await shot(p, 'contacts-phone-menu');
  await ctx.close();
  assertNoProblems();
});

uiTest('realtime: a contact created in one browser shows up in another', async () => {
  const watcher = await open(mona, '/contacts');
  await watcher.p.getByLabel('Search contacts').fill(`${tag}-Live`);
  await watcher.p.getByText('No contacts match.').waitFor();
  await watcher.p.waitForTimeout(500); // the realtime subscription is set up

  const editor = await open(andy, '/contacts/new');
  await editor.p.getByLabel('First name').fill('Lina');
  await editor.p.getByLabel('Last name').fill(`${tag}-Live`);
  await editor.p.getByRole('button', { name: 'Create contact' }).click();
  await editor.p.waitForURL(/\/contacts\/[a-z0-9]{15}$/);

  // no reload in the watcher's page
  await watcher.p.locator('tbody').getByText(`Lina ${tag}-Live`).waitFor();
  await watcher.p.getByTestId('live-note').waitFor();
  await watcher.ctx.close();
  await editor.ctx.close();
  assertNoProblems();
});

uiTest("Monalisa never sees Andy's private workspace", async () => {
  const secret = await andy.collection('contacts').create({ workspace: ws["Andy's workspace"], first_name: 'Secret', last_name: `${tag}-Private` });
  const { ctx, p } = await open(mona, '/contacts', { workspace: ws["Andy's workspace"] }); // even if asked for it
  // the switcher is filled once the workspaces have loaded
  await p.locator('#workspace-switcher option', { hasText: 'Shared' }).waitFor({ state: 'attached' });
  const options = await p.locator('#workspace-switcher option').allTextContents();
  assert.deepEqual(options.sort(), ["Monalisa's workspace", 'Shared']);
  assert.notEqual(await p.locator('#workspace-switcher').inputValue(), ws["Andy's workspace"]);
  for (const name of ["Monalisa's workspace", 'Shared']) {
    await p.locator('#workspace-switcher').selectOption({ label: name });
    await p.getByLabel('Search contacts').fill('Secret');
    await p.getByText('No contacts match.').waitFor();
  }
  await p.goto(URL + '/contacts/' + secret.id);
  await p.getByText('No contact with this id in your workspaces.').waitFor();
  assert.equal(await p.getByText(`${tag}-Private`).count(), 0);
  await ctx.close();
  assertNoProblems();
});

uiTest('a contact named like HTML renders as text', async () => {
  const name = '<img src=x onerror=alert(1)>';
  const c = await andy.collection('contacts').create({ workspace: ws.Shared, first_name: name, last_name: `${tag}-Xss`, company: '<script>alert(2)</script>' });
  await andy.collection('communication_logs').create({ workspace: ws.Shared, contact: c.id, type: 'note', content: '<b onmouseover=alert(3)>note</b>' });
  const { ctx, p } = await open(andy, '/contacts');
  await p.getByLabel('Search contacts').fill(`${tag}-xss`);
  await p.locator('tbody').getByText(`${name} ${tag}-Xss`).waitFor();
  await p.locator('tbody').getByText('<script>alert(2)</script>').waitFor();
  await p.locator('tbody').getByRole('link', { name: `${name} ${tag}-Xss` }).click();
  await p.getByTestId('contact-title').getByText(`${name} ${tag}-Xss`).waitFor();
  await p.getByTestId('timeline').getByText('<b onmouseover=alert(3)>note</b>').waitFor();
  await p.goto(URL + '/'); // the dashboard's activity lists it too
  await p.getByText('<b onmouseover=alert(3)>note</b>').first().waitFor();
  await p.waitForTimeout(300);
  assert.equal(await p.locator('img[src="x"], b[onmouseover]').count(), 0);
  await ctx.close();
  assertNoProblems(); // no alert dialog fired
});

uiTest('a viewer sees no edit controls', async () => {
  const c = await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Vic', last_name: `${tag}-View` });
  const { ctx, p } = await open(viewer, '/contacts');
  await p.getByTestId('role').getByText('viewer').waitFor();
  await p.locator('tbody tr[data-id]').first().waitFor();
  assert.equal(await p.getByRole('button', { name: 'New contact' }).count(), 0);
  assert.equal(await p.getByRole('link', { name: 'Import' , exact: true }).count(), 1, 'the nav link stays');
  assert.equal(await p.locator('tbody input[type=checkbox]').count(), 0, 'no bulk selection');

  await p.goto(URL + '/contacts/' + c.id);
  await p.getByTestId('contact-title').getByText(`Vic ${tag}-View`).waitFor();
  await p.getByRole('heading', { name: 'Timeline' }).waitFor();
  for (const name of ['Save', 'Delete', 'Add note', 'Make primary', 'Remove']) {
    assert.equal(await p.getByRole('button', { name, exact: true }).count(), 0, `no ${name} button`);
  }
  assert.equal(await p.locator('main input, main textarea, main select').count(), 0, 'no inputs on the contact page');
  await shot(p, 'contact-viewer-desktop');

  await p.goto(URL + '/settings/lists');
  await p.getByRole('table').waitFor();
  assert.equal(await p.getByRole('button', { name: 'Add list' }).count(), 0);
  assert.equal(await p.getByRole('button', { name: 'Delete' }).count(), 0);
  await p.goto(URL + '/import');
  await p.getByText('Viewers cannot import contacts.').waitFor();
  // the server refuses a viewer's write whatever the UI shows
  await assert.rejects(viewer.collection('contacts').update(c.id, { first_name: 'Changed' }), (err) => err.status === 404 || err.status === 403);
  await ctx.close();
  assertNoProblems();
});

uiTest('merge two contacts with a conflict choice, then undo', async () => {
  const phone = '+1415555' + String(Date.now() % 10000).padStart(4, '0');
  const a = await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Mia', last_name: `${tag}-Merge`, company: 'Alpha Ltd', primary_email: `${tag}.mia@example.org` });
  const b = await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Mia', last_name: `${tag}-Merge`, company: 'Beta GmbH', primary_phone: phone });
  const { ctx, p } = await open(andy, `/merge?source=${b.id}&target=${a.id}`);
  const companyRow = p.locator('tr[data-field="company"]');
  await companyRow.getByText('differs').waitFor();
  await shot(p, 'merge-desktop');
  const mergeButton = p.getByRole('button', { name: /Choose 1 more field|Merge B into A/ });
  assert.match(await mergeButton.textContent(), /Choose 1 more/);
  await companyRow.getByRole('radio', { name: 'Beta GmbH' }).check();
  await p.getByRole('button', { name: 'Merge B into A' }).waitFor();
  await companyRow.locator('td.result').getByText('Beta GmbH').waitFor(); // the dry run's preview
  await p.getByRole('button', { name: 'Merge B into A' }).click();
  await p.getByTestId('merge-done').waitFor();

  const merged = await andy.collection('contacts').getOne(a.id);
  assert.equal(merged.company, 'Beta GmbH');
  assert.equal(merged.primary_phone, phone, 'a value only the source had is kept');
  await assert.rejects(andy.collection('contacts').getOne(b.id), (err) => err.status === 404);

  await p.getByRole('button', { name: 'Undo merge' }).click();
  await p.getByTestId('merge-undone').waitFor();
  const back = await andy.collection('contacts').getOne(b.id);
  assert.equal(back.company, 'Beta GmbH');
  assert.equal((await andy.collection('contacts').getOne(a.id)).company, 'Alpha Ltd');
  await p.setViewportSize(PHONE);
  await shot(p, 'merge-phone');
  await ctx.close();
  assertNoProblems();
});

uiTest('import a CSV: progress from the job, error report, warnings, undo', async () => {
  // Ivy's phone is possible though libphonenumber's tables call it invalid
  // (stored); Kai's cannot be read: imported without it, shown as a warning
  const ivyPhone = `+44 7700 9${String(Date.now() % 100000).padStart(5, '0')}`;
  const csv = [
    'First Name,Last Name,Email,Company,Phone',
    `Ivy,${tag}-Imp,${tag}.ivy@example.org,Import Co,${ivyPhone}`,
    `Jon,${tag}-Imp,not-an-email,Import Co,`,
    `Kai,${tag}-Imp,${tag}.kai@example.org,Import Co,call reception`,
  ].join('\n');
  const { ctx, p } = await open(andy, '/import');
  await p.getByLabel(/CSV file/).setInputFiles({ name: `${tag}.csv`, mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await p.getByLabel('Mapping of Email').waitFor(); // the mapping preview
  await p.getByRole('button', { name: 'Start import' }).click();
  await p.getByTestId('import-status').getByText(/completed|failed/).waitFor({ timeout: 20_000 });
  assert.equal(await p.getByTestId('import-status').textContent(), 'completed');
  const counts = await p.getByTestId('import-counts').textContent();
  assert.match(counts, /3 rows read/);
  assert.match(counts, /2 created/);
  assert.match(counts, /1 failed/);
  assert.match(counts, /1 warning\b/);
  const warning = await p.getByTestId('import-warnings').textContent();
  assert.match(warning, /Row 4, Phone: "call reception" is not a phone number; the contact was created without it/);
  assert.match(await p.getByTestId('import-errors').textContent(), /Row 3, Email: "not-an-email"/);
  assert.equal(await p.getByRole('progressbar').getAttribute('aria-valuenow'), '100');
  await shot(p, 'import-job-desktop'); // (the screenshot test below takes import-desktop: the empty form)

  const [download] = await Promise.all([p.waitForEvent('download'), p.getByRole('button', { name: 'Download error report' }).click()]);
  const report = readFileSync(await download.path(), 'utf8');
  assert.match(report, /not-an-email|email/i);
  assert.match(report, /\b3\b/, 'the report names the row (line 3 of the file)');
  assert.match(report, /4,Phone,phone_dropped,.*,call reception/, 'the warning with its row, column and value');

  const imported = await andy.collection('contacts').getFullList({ filter: andy.filter('last_name = {:n}', { n: `${tag}-Imp` }), sort: 'first_name' });
  assert.deepEqual(imported.map((c) => [c.first_name, c.primary_phone]), [['Ivy', ivyPhone.replaceAll(' ', '')], ['Kai', '']]);
  await p.getByRole('button', { name: 'Undo this import' }).click();
  await p.getByText(/Import undone/).waitFor();
  const after = await andy.collection('contacts').getFullList({ filter: andy.filter('last_name = {:n}', { n: `${tag}-Imp` }) });
  assert.equal(after.length, 0);
  await ctx.close();
  assertNoProblems();
});

uiTest('screenshots of the main views at desktop and phone width', async () => {
  for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    const { ctx, p } = await open(andy, '/', { viewport });
    await p.getByTestId('contacts-count').filter({ hasText: /^\d+$/ }).waitFor();
    await shot(p, `dashboard-${name}`);
    for (const [path, file, ready] of [
      ['/contacts', 'contacts', 'tbody tr[data-id]'],
      ['/settings/fields', 'settings-fields', 'table'],
      ['/settings/members', 'settings-members', 'table'],
      ['/settings/keys', 'settings-keys', 'table'],
      ['/settings/audit', 'settings-audit', 'tbody tr'],
      ['/import', 'import', 'form'],
      ['/merge', 'merge-empty', 'input'],
    ]) {
      await p.goto(URL + path);
      await p.locator(ready).first().waitFor();
      await p.waitForTimeout(200);
      await shot(p, `${file}-${name}`);
    }
    await ctx.close();
  }
  assertNoProblems();
});

uiTest('an admin invites by email; the invitee sees the invitation, accepts and sees the workspace', async () => {
  const email = `${tag}.colleague@example.org`;
  const u = await su.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name: 'Cole League', verified: true });
  // Monalisa is admin of Shared and shares no workspace with the new account
  const { ctx, p } = await open(mona, '/settings/members');
  await p.getByRole('table').first().waitFor();
  // an address without an account gets the same answer as one with an account
  const ghost = 'nobody-' + email;
  await p.getByLabel('Email', { exact: true }).fill(ghost);
  await p.getByRole('button', { name: 'Send invitation' }).click();
  await p.getByRole('status').getByText('Invitation sent to ' + ghost + '.', { exact: false }).waitFor();
  await p.getByRole('cell', { name: ghost, exact: true }).waitFor();
  await p.getByRole('button', { name: 'Revoke the invitation of ' + ghost }).click();
  await p.getByRole('status').getByText('Invitation revoked.').waitFor();
  await p.getByRole('cell', { name: ghost, exact: true }).waitFor({ state: 'detached' });

  await p.getByLabel('Email', { exact: true }).fill(email.toUpperCase());
  await p.getByLabel('as').selectOption('viewer');
  await p.getByRole('button', { name: 'Send invitation' }).click();
  await p.getByRole('status').getByText('Invitation sent to ' + email + '.', { exact: false }).waitFor();
  await p.getByTestId('invitations').getByRole('cell', { name: email, exact: true }).waitFor();
  // invited is not a member
  const before = await su.collection('workspace_members').getList(1, 1, { filter: su.filter('workspace = {:w} && user = {:u}', { w: ws.Shared, u: u.id }) });
  assert.equal(before.totalItems, 0);
  await shot(p, 'settings-members-desktop');
  await ctx.close();

  // the colleague, in no workspace yet, sees the invitation and accepts it
  const cole = await impersonate(su, email);
  const { ctx: ctx2, p: p2 } = await open(cole, '/', { workspace: '' });
  await p2.getByText('No workspace yet').waitFor();
  const card = p2.getByTestId('my-invitations');
  await card.getByText(/Monalisa invited you to/).waitFor();
  await card.getByText('Shared', { exact: true }).waitFor();
  await shot(p2, 'invitation-desktop');
  await card.getByRole('button', { name: 'Accept the invitation to Shared' }).click();
  await p2.getByRole('heading', { name: /Dashboard/ }).getByText(/Shared/).waitFor();
  await p2.getByTestId('role').getByText('viewer').waitFor();
  await card.waitFor({ state: 'detached' });
  const m = await su.collection('workspace_members').getFirstListItem(su.filter('workspace = {:w} && user = {:u}', { w: ws.Shared, u: u.id }));
  assert.equal(m.role, 'viewer');
  await ctx2.close();

  // and Monalisa's members tab shows the new member, with no pending invitation left
  const { ctx: ctx3, p: p3 } = await open(mona, '/settings/members');
  await p3.getByRole('cell', { name: /Cole League/ }).first().waitFor();
  await p3.getByTestId('no-invitations').waitFor();
  await ctx3.close();
  assertNoProblems();
});
