// Campaigns sent through the remote providers from the web UI, in Debian's
// Chromium against the real server, each provider's API played by a test
// server on 127.0.0.1 (../provider-fakes.mjs): Mailgun and Twilio by Prism
// serving their own trimmed OpenAPI documents (a request the document
// rejects fails the test), Gmail and Microsoft Graph by https fakes that
// check the documented wire format after the token exchange.
//
// In a workspace of its own, with people of its own ("Mona", the owner, and
// "Andy", an admin): Mona fills each provider's form in Settings (every
// field, base_url at the test server), saves it and sends a test; Andy
// creates a campaign naming the provider and submits it, Mona approves it
// on the approvals page (four eyes), Andy sends it; the results
// show the deliveries sent and the test server got one message per
// recipient. Then the providers' webhooks, signed as Mailgun and Twilio
// document: a permanent failure bounces a delivery (its reason in the
// results) and suppresses the address, an inbound STOP suppresses a phone,
// a Twilio status callback fails a delivery with its error; forged and
// replayed ones are 403 and change nothing. The suppressions list shows
// them by channel and reason, and the next campaigns count them as
// suppressed and skip them; a START lifts the STOP. Last, the demo's own
// suppressions and Mailgun example (services/demo) as the UI shows them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { URL, PASSWORD, superuser, impersonate, launch, openAt } from '../ui-helpers.mjs';
import { waitFor } from '../campaign-fixtures.mjs';
import { configured } from '../secrets.mjs';
import { startPrism, startGmailFake, startGraphFake, formOf } from '../provider-fakes.mjs';

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

const tag = `ps${Date.now().toString(36)}`;
const hex = (n) => randomBytes(n).toString('hex');
const MG_KEY = `key-${hex(12)}`;
const MG_SIGNING = `whsec-${hex(12)}`;
const TW_SID = 'AC' + hex(16);
const TW_TOKEN = hex(16);
const TW_FROM = '+15017122661';
const GRAPH = { tenant: '6f1c0d3e-0000-4000-8000-' + hex(6), clientId: '11111111-2222-3333-4444-' + hex(6), secret: `graph~${hex(12)}`, mailbox: `news@${tag}.example` };
// a Google service account key file, as the console downloads it
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const SA = {
  type: 'service_account', project_id: `shop-${tag}`, private_key_id: hex(20),
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
  client_email: `sender@shop-${tag}.iam.gserviceaccount.com`, client_id: String(Date.now()) + '1234567',
  token_uri: 'https://oauth2.googleapis.com/token',
};
const GMAIL_USER = `news@${tag}.example`;
configured(MG_KEY, MG_SIGNING, TW_TOKEN, GRAPH.secret, SA.private_key_id, ...SA.private_key.split('\n').filter((l) => l.length >= 60));

const people = [
  { first_name: 'Ada', primary_email: `ada.${tag}@example.org`, primary_phone: '+14155550101' },
  { first_name: 'Bea', primary_email: `bea.${tag}@example.org`, primary_phone: '+14155550102' },
  { first_name: 'Cyd', primary_email: `cyd.${tag}@example.org`, primary_phone: '+14155550103' },
];
const emails = people.map((p) => p.primary_email);
const phones = people.map((p) => p.primary_phone);

let su, mona, andy, demoMona, demoAndy, ws, list, emailTpl, smsTpl, browser, mailgun, twilio, gmail, graph, appURL;
const problems = [];
const campaigns = {}; // provider → campaign id

before(async () => {
  su = await superuser();
  // people of their own (other test files count the demo users' workspaces):
  // "mona" owns the workspace, "andy" is an admin there; for the demo data's
  // own test, the demo users themselves
  const mkUser = async (who, name) => {
    const email = `${tag}.${who}@example.org`;
    await su.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name, verified: true });
    return impersonate(su, email);
  };
  mona = await mkUser('owner', 'Mona Owner');
  andy = await mkUser('admin', 'Andy Admin');
  demoMona = await impersonate(su, 'monalisa@example.com');
  demoAndy = await impersonate(su, 'andy@example.com');
  ws = (await mona.collection('workspaces').create({ name: `${tag} remote`, owner: mona.authStore.record.id })).id;
  await su.collection('workspace_members').create({ workspace: ws, user: andy.authStore.record.id, role: 'admin' });
  list = await mona.collection('contact_lists').create({ workspace: ws, name: `${tag} list` });
  for (const p of people) {
    const c = await mona.collection('contacts').create({ workspace: ws, last_name: tag, ...p });
    await mona.collection('contact_list_assignments').create({ contact: c.id, list: list.id, is_primary: false });
  }
  emailTpl = await mona.collection('templates').create({
    workspace: ws, name: `${tag} news`, channel: 'email', subject: `Hello {{first_name}} ${tag}`,
    body_html: `<p>Hi {{first_name}}, the spring sale starts today.</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>`,
  });
  smsTpl = await mona.collection('templates').create({ workspace: ws, name: `${tag} sms`, channel: 'sms', body_text: 'Hi {{first_name}}, the sale starts today. Reply STOP to opt out.' });
  appURL = (await su.settings.getAll()).meta.appURL;

  [mailgun, twilio, gmail, graph] = await Promise.all([
    startPrism('mailgun_messages.trimmed.yaml'),
    // Prism answers the document's one example (one sid) to every send:
    // each message gets a sid of its own, so a status callback names one
    startPrism('twilio_messages.trimmed.json', { rewrite: (j) => ({ ...j, sid: 'SM' + hex(16) }) }),
    startGmailFake({ clientEmail: SA.client_email, publicKey: publicKey.export({ type: 'spki', format: 'pem' }), tokenURI: SA.token_uri, user: GMAIL_USER }),
    startGraphFake(GRAPH),
  ]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const f of [mailgun, twilio, gmail, graph]) await f?.stop();
});

const uiTest = (name, fn) => test(name, { timeout: 120_000 }, fn);
const open = (pb, path) => openAt(browser, problems, pb, path, { workspace: ws });
const assertNoProblems = () => assert.deepEqual(problems, [], 'page errors or dialogs');
const status = (p) => p.getByTestId('campaign-status').first();

// fillProvider opens Settings → provider as Mona, fills the fields
// ({label: value}; a boolean checks a checkbox), saves, and sends a test to
// testTo; the page says both worked.
async function fillProvider(name, title, values, testTo) {
  const { ctx, p } = await open(mona, '/settings/' + name);
  const form = p.getByRole('form', { name: `${title} settings` });
  await form.waitFor();
  for (const [label, value] of Object.entries(values)) {
    const input = form.getByLabel(label, { exact: true });
    if (typeof value === 'boolean') await input.setChecked(value);
    else if ((await input.evaluate((el) => el.tagName)) === 'SELECT') await input.selectOption(value);
    else await input.fill(String(value));
  }
  await form.getByRole('button', { name: 'Save' }).click();
  await p.getByTestId('provider-saved').waitFor();
  await p.getByTestId('provider-configured').getByText('Set up for this workspace.').waitFor();
  await p.getByLabel('Send a test message to').fill(testTo);
  await p.getByRole('button', { name: 'Send test' }).click();
  await p.getByTestId('provider-test-ok').waitFor({ timeout: 30_000 }).catch(async (err) => {
    const why = await p.getByTestId('provider-test-error').textContent().catch(() => '');
    throw new Error(`the test message failed: ${why || err.message}`);
  });
  // the test's look-up of its own message (the form's look-up line)
  const lookup = await p.getByTestId('provider-test-lookup').textContent({ timeout: 5000 }).catch(() => '');
  await ctx.close();
  return lookup;
}

// campaignThroughUI: Andy creates a campaign of channel through provider
// for the list and submits it; Mona approves it on the approvals page;
// Andy sends it and sees it reach "sent" with `sent` deliveries. Returns
// the campaign's id.
async function campaignThroughUI(name, channel, template, provider, { sent, skipped = 0, suppressed = 0 }) {
  const a = await open(andy, '/campaigns');
  const p = a.p;
  await p.getByRole('button', { name: 'New campaign' }).click();
  await p.getByLabel('Name').fill(name);
  await p.getByLabel('Channel').selectOption(channel);
  await p.getByLabel('Template').selectOption({ label: template });
  await p.getByLabel('Send through').selectOption(provider);
  await p.getByTestId('segment-lists_any').getByLabel(`${tag} list`).check();
  await p.getByRole('button', { name: 'Create campaign' }).click();
  await p.waitForURL(/\/campaigns\/[a-z0-9]{15}$/);
  const id = p.url().split('/').pop();
  await p.getByTestId('audience-count').getByText(String(sent), { exact: true }).waitFor();
  assert.equal(await p.getByTestId('audience-suppressed').textContent(), String(suppressed), 'suppressed in the audience');
  await p.getByRole('button', { name: 'Submit for approval' }).click();
  await status(p).getByText('Waiting for approval').waitFor();
  const snap = (await andy.collection('campaigns').getOne(id)).snapshot;
  assert.equal(snap.provider, provider, 'the provider chosen is in the snapshot');

  const m = await open(mona, '/approvals');
  const card = m.p.locator(`article[data-id="${id}"]`);
  await card.getByRole('button', { name: 'Approve' }).click();
  await m.p.getByTestId('approvals-info').getByText(/Approved/).waitFor();
  await m.ctx.close();

  await status(p).getByText('Approved').waitFor();
  await p.getByRole('button', { name: 'Send now' }).click();
  await status(p).getByText('Sent', { exact: true }).waitFor({ timeout: 60_000 });
  await p.getByTestId('counter-sent').getByText(String(sent), { exact: true }).waitFor();
  await p.getByTestId('counter-skipped').getByText(String(skipped), { exact: true }).waitFor();
  const table = p.getByTestId('deliveries');
  await table.locator('tr[data-status="sent"]').nth(sent - 1).waitFor();
  assert.equal(await table.locator('tr[data-status="sent"]').count(), sent);
  await a.ctx.close();
  return id;
}

const deliveries = (id) => andy.collection('campaign_deliveries').getFullList({ filter: andy.filter('campaign = {:c}', { c: id }) });
const byAddress = async (id) => Object.fromEntries((await deliveries(id)).map((d) => [d.address, d]));
const field = (rec, name) => formOf(rec).get(name);
// what was sent through a Prism provider: its POSTs (the provider test also looks its message up with a GET)
const posts = (prism) => prism.requests.filter((r) => r.method === 'POST');
// the address of a To header ("<a@b>" or "Name <a@b>")
const addr = (h) => /<([^<>]+)>\s*$/.exec(h || '')?.[1] || String(h || '').trim();

uiTest('Mailgun: settings from the form, a test, a campaign from the UI through Prism serving Mailgun\'s document', async () => {
  await fillProvider('mailgun', 'Mailgun', {
    From: `Shop <news@mg.${tag}.example>`, 'Sending domain': `mg.${tag}.example`, 'API key': MG_KEY, Region: 'eu',
    'Webhook signing key': MG_SIGNING, 'Reply-To': `help@${tag}.example`, 'API base URL': mailgun.url,
    'Messages per second': '20', 'Messages a day': '1000',
  }, `me.${tag}@example.org`);
  assert.equal(posts(mailgun).length, 1, 'the test message reached Prism');
  campaigns.mailgun = await campaignThroughUI(`${tag} via Mailgun`, 'email', `${tag} news`, 'mailgun', { sent: 3 });
  const sends = posts(mailgun).slice(1);
  assert.deepEqual(sends.map((r) => `${r.method} ${r.path} ${r.status}`), Array(3).fill(`POST /v3/mg.${tag}.example/messages 200`));
  assert.deepEqual(mailgun.violations(), [], "Mailgun's document accepts every request");
  assert.deepEqual(sends.map((r) => field(r, 'to')).sort(), [...emails].sort(), 'one message per recipient');
  const rows = await byAddress(campaigns.mailgun);
  for (const r of sends) {
    const to = field(r, 'to');
    assert.equal(field(r, 'v:picrm_delivery'), rows[to].id, 'our delivery id in the v: variable');
    assert.equal(field(r, 'h:Reply-To'), `help@${tag}.example`);
    assert.equal(r.headers.authorization, 'Basic ' + Buffer.from('api:' + MG_KEY).toString('base64'));
  }
  assertNoProblems();
});

uiTest('Gmail: a service account from the form, a test, a campaign from the UI through the Gmail API fake', async () => {
  const gmailLookup = await fillProvider('gmail', 'Google Workspace (Gmail)', {
    'Service account key (JSON)': JSON.stringify(SA, null, 2), 'Send as user': GMAIL_USER, From: `Shop <${GMAIL_USER}>`,
    'API base URL': gmail.url, 'Messages per second': '10', 'Messages a day': '2000',
  }, `me.${tag}@example.org`);
  assert.equal(gmail.sent.length, 1, 'the test message reached the fake');
  assert.match(gmailLookup, /^Look-ups work/, 'the test message was found by its Message-ID (read scope)');
  campaigns.gmail = await campaignThroughUI(`${tag} via Gmail`, 'email', `${tag} news`, 'gmail', { sent: 3 });
  assert.deepEqual(gmail.problems, [], 'the fake found nothing wrong');
  assert.ok(gmail.tokens >= 1, 'a JWT-bearer exchange');
  const sent = gmail.sent.slice(1);
  assert.deepEqual(sent.map((m) => addr(m.headers.to)).sort(), [...emails].sort(), 'one message per recipient');
  const rows = await byAddress(campaigns.gmail);
  for (const m of sent) {
    assert.match(m.headers.from, new RegExp(GMAIL_USER.replace(/\./g, '\\.')));
    assert.match(m.headers['list-unsubscribe'] || '', /^<https?:\/\/.+\/u\/.+>$/);
    assert.equal(rows[addr(m.headers.to)].provider_message_id, m.id, "Gmail's id is the delivery's provider id");
  }
  assertNoProblems();
});

uiTest('Microsoft 365: app credentials from the form, a test, a campaign from the UI through the Graph fake', async () => {
  const graphLookup = await fillProvider('microsoft365', 'Microsoft 365', {
    'Directory (tenant) ID': GRAPH.tenant, 'Application (client) ID': GRAPH.clientId, 'Client secret': GRAPH.secret,
    'Sender mailbox': GRAPH.mailbox, 'Save to Sent Items': true, From: `Shop <${GRAPH.mailbox}>`, 'API base URL': graph.url,
    'Messages per second': '10', 'Messages a day': '10000',
  }, `me.${tag}@example.org`);
  assert.equal(graph.sent.length, 1, 'the test message reached the fake');
  assert.match(graphLookup, /^Look-ups work/, 'the test message was found in Sent Items by its internetMessageId');
  campaigns.microsoft365 = await campaignThroughUI(`${tag} via Microsoft 365`, 'email', `${tag} news`, 'microsoft365', { sent: 3 });
  assert.deepEqual(graph.problems, [], 'the fake found nothing wrong');
  assert.ok(graph.tokens >= 1, 'a client-credentials exchange');
  assert.ok(graph.gzipped >= 1, 'sendMail bodies gzipped, as the SDK sends them');
  const sent = graph.sent.slice(1);
  assert.deepEqual(sent.map((m) => addr(m.headers.to)).sort(), [...emails].sort(), 'one message per recipient');
  const rows = await byAddress(campaigns.microsoft365);
  for (const m of sent) {
    assert.match(m.headers['list-unsubscribe'] || '', /^<https?:\/\/.+\/u\/.+>$/, 'the MIME form carries List-Unsubscribe');
    assert.equal(rows[addr(m.headers.to)].provider_message_id, m.headers['message-id'].replace(/^<|>$/g, ''), 'the Message-ID is the provider id');
  }
  assertNoProblems();
});

uiTest('Twilio: settings from the form, a test SMS, an SMS campaign from the UI through Prism serving Twilio\'s document', async () => {
  await fillProvider('twilio', 'Twilio', {
    'Account SID': TW_SID, 'Auth token': TW_TOKEN, 'From number': TW_FROM, 'API base URL': twilio.url,
    'Messages per second': '5', 'Messages a day': '500',
  }, '+14155550199');
  assert.equal(posts(twilio).length, 1, 'the test SMS reached Prism');
  campaigns.twilio = await campaignThroughUI(`${tag} via Twilio`, 'sms', `${tag} sms`, 'twilio', { sent: 3 });
  const sends = posts(twilio).slice(1);
  assert.deepEqual(sends.map((r) => `${r.method} ${r.path} ${r.status}`), Array(3).fill(`POST /2010-04-01/Accounts/${TW_SID}/Messages.json 201`));
  assert.deepEqual(twilio.violations(), [], "Twilio's document accepts every request");
  assert.deepEqual(sends.map((r) => field(r, 'To')).sort(), [...phones].sort(), 'one SMS per recipient');
  for (const r of sends) {
    assert.equal(field(r, 'From'), TW_FROM);
    assert.match(field(r, 'Body'), /the sale starts today/);
    assert.equal(field(r, 'StatusCallback'), appURL.replace(/\/+$/, '') + `/api/crm/webhooks/twilio/${ws}`);
  }
  assertNoProblems();
});

// the providers' signatures, as they document them
const mailgunSignature = (key, timestamp, token) => createHmac('sha256', key).update(timestamp + token).digest('hex');
function twilioSignature(token, url, params) {
  const data = url + Object.keys(params).sort().map((k) => k + params[k]).join('');
  return createHmac('sha1', token).update(data).digest('base64');
}
function mailgunEvent(key, event) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const token = hex(25);
  return { signature: { timestamp, token, signature: mailgunSignature(key, timestamp, token) }, 'event-data': event };
}
const postMailgun = (body) =>
  fetch(`${URL}/api/crm/webhooks/mailgun/${ws}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
function postTwilio(params, signWith = TW_TOKEN) {
  const path = `/api/crm/webhooks/twilio/${ws}`;
  const signature = twilioSignature(signWith, appURL.replace(/\/+$/, '') + path, params);
  return fetch(URL + path, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': signature }, body: new URLSearchParams(params).toString() });
}
const suppressionsNow = async () =>
  (await mona.collection('suppressions').getFullList({ filter: mona.filter('workspace = {:w}', { w: ws }) })).map((s) => `${s.channel} ${s.address} ${s.reason}`).sort();

uiTest('webhooks: a signed bounce and STOP suppress, a status callback fails a delivery; forged and replayed ones are 403 and change nothing', async () => {
  assert.ok(campaigns.mailgun && campaigns.twilio, 'the Mailgun and Twilio campaigns were sent');
  const mg = await byAddress(campaigns.mailgun);
  const tw = await byAddress(campaigns.twilio);
  const failed = (address) => ({
    event: 'failed', severity: 'permanent', reason: 'bounce', timestamp: Date.now() / 1000, recipient: address,
    'delivery-status': { code: 550, message: '5.1.1 The email account that you tried to reach does not exist', description: '' },
    'user-variables': { picrm_delivery: mg[address].id }, message: { headers: { 'message-id': mg[address].provider_message_id } },
  });
  assert.deepEqual(await suppressionsNow(), [], 'no suppressions before');

  // forged: signed with another key, and a real signature over another token
  let r = await postMailgun(mailgunEvent('not-the-signing-key', failed(emails[2])));
  assert.equal(r.status, 403, 'a Mailgun event signed with another key');
  const tampered = mailgunEvent(MG_SIGNING, failed(emails[2]));
  tampered.signature.token = hex(25);
  r = await postMailgun(tampered);
  assert.equal(r.status, 403, 'a Mailgun signature over another token');
  r = await postTwilio({ AccountSid: TW_SID, MessageSid: 'SM' + hex(16), From: phones[0], To: TW_FROM, Body: 'STOP', NumMedia: '0' }, hex(16));
  assert.equal(r.status, 403, 'a STOP signed with another auth token');
  const undelivered = { AccountSid: TW_SID, MessageSid: tw[phones[0]].provider_message_id, MessageStatus: 'undelivered', ErrorCode: '30003', To: phones[0], From: TW_FROM };
  r = await fetch(`${URL}/api/crm/webhooks/twilio/${ws}`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(undelivered).toString() });
  assert.equal(r.status, 403, 'a status callback without a signature');
  r = await fetch(`${URL}/api/crm/webhooks/mailgun/nosuchworkspace1`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(mailgunEvent(MG_SIGNING, failed(emails[2]))) });
  assert.equal(r.status, 404, 'an unknown workspace');
  r = await fetch(`${URL}/api/crm/webhooks/mailgun/${ws}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"signature": ' });
  assert.equal(r.status, 400, 'a malformed body');
  assert.deepEqual(await suppressionsNow(), [], 'the forged webhooks suppressed nothing');
  assert.equal((await byAddress(campaigns.mailgun))[emails[2]].status, 'sent', 'nor changed the delivery');
  assert.equal((await byAddress(campaigns.twilio))[phones[0]].status, 'sent');

  // Mailgun: a permanent failure for Bea, while Andy has the results open
  const view = await open(andy, '/campaigns/' + campaigns.mailgun);
  const table = view.p.getByTestId('deliveries');
  await table.locator('tr[data-status="sent"]', { hasText: emails[1] }).waitFor();
  const bounce = mailgunEvent(MG_SIGNING, failed(emails[1]));
  r = await postMailgun(bounce);
  assert.equal(r.status, 200, 'the signed bounce: ' + (await r.text()));
  await view.p.getByRole('button', { name: 'Refresh the deliveries' }).click();
  await table.locator('tr[data-status="bounced"]', { hasText: emails[1] }).getByText(/^bounced: bounce: 550/).waitFor();
  await view.ctx.close();
  r = await postMailgun(bounce);
  assert.equal(r.status, 403, 'the same token again is a replay');
  // Twilio: Cyd replies STOP; Ada's SMS was not delivered
  r = await postTwilio({ AccountSid: TW_SID, MessageSid: 'SM' + hex(16), From: phones[2], To: TW_FROM, Body: 'Stop', NumMedia: '0' });
  assert.equal(r.status, 200, 'the signed STOP: ' + (await r.text()));
  r = await postTwilio(undelivered);
  assert.equal(r.status, 200, 'the signed status callback');

  assert.deepEqual(await suppressionsNow(), [`email ${emails[1]} hard_bounce`, `sms ${phones[2]} sms_stop`].sort());
  const mg2 = await byAddress(campaigns.mailgun);
  assert.equal(mg2[emails[1]].status, 'bounced');
  assert.match(mg2[emails[1]].error, /bounce.*550.*does not exist/);
  assert.equal(mg2[emails[2]].status, 'sent', 'the forged bounce changed nothing');
  const tw2 = await byAddress(campaigns.twilio);
  assert.equal(tw2[phones[0]].status, 'failed');
  assert.match(tw2[phones[0]].error, /undelivered \(error 30003\)/);
  assertNoProblems();
});

uiTest('the results show the bounce and the failure with their reasons; the suppressions list by channel and reason', async () => {
  assert.ok(campaigns.mailgun && campaigns.twilio, 'the Mailgun and Twilio campaigns were sent');
  const { ctx, p } = await open(andy, '/campaigns/' + campaigns.mailgun);
  const table = p.getByTestId('deliveries');
  const bea = table.locator('tr[data-status="bounced"]');
  await bea.getByText(emails[1]).waitFor();
  await bea.getByText(/bounced: bounce: 550/).waitFor();
  await p.getByLabel('Status', { exact: true }).selectOption('bounced');
  await table.locator('tr[data-status="sent"]').first().waitFor({ state: 'detached' });
  assert.equal(await table.locator('tbody tr').count(), 1);
  await p.goto(URL + '/campaigns/' + campaigns.twilio);
  const ada = p.getByTestId('deliveries').locator('tr[data-status="failed"]');
  await ada.getByText(phones[0]).waitFor();
  await ada.getByText('twilio: undelivered (error 30003)').waitFor();
  await ctx.close();

  const s = await open(mona, '/settings/suppressions');
  const list = s.p.getByTestId('suppressions');
  await list.locator('tr[data-reason="hard_bounce"]').getByText(emails[1]).waitFor();
  await list.locator('tr[data-reason="sms_stop"]').getByText(phones[2]).waitFor();
  for (const forged of [emails[2], phones[0]]) assert.equal(await list.getByText(forged).count(), 0, `${forged} is not suppressed`);
  await s.p.getByTestId('supp-channel').selectOption('sms');
  await list.getByText(emails[1]).waitFor({ state: 'detached' });
  await list.getByText(phones[2]).waitFor();
  await s.p.getByTestId('supp-channel').selectOption('');
  await s.p.getByTestId('supp-reason').selectOption('hard_bounce');
  await list.getByText(phones[2]).waitFor({ state: 'detached' });
  await list.getByText(emails[1]).waitFor();
  assert.equal(await list.locator('tbody tr').count(), 1);
  await s.ctx.close();
  assertNoProblems();
});

uiTest('the next campaigns count the bounced address and the STOP as suppressed and skip them; START lifts the STOP', async () => {
  assert.ok(campaigns.mailgun && campaigns.twilio, 'the Mailgun and Twilio campaigns were sent');
  const before = posts(mailgun).length;
  const next = await campaignThroughUI(`${tag} next via Mailgun`, 'email', `${tag} news`, 'mailgun', { sent: 2, skipped: 1, suppressed: 1 });
  const sends = posts(mailgun).slice(before);
  assert.deepEqual(sends.map((r) => field(r, 'to')).sort(), [emails[0], emails[2]].sort(), 'nothing went to the bounced address');
  const rows = await byAddress(next);
  assert.equal(rows[emails[1]].status, 'skipped');
  assert.equal(rows[emails[1]].reason, 'suppressed');

  const beforeSMS = posts(twilio).length;
  const nextSMS = await campaignThroughUI(`${tag} next via Twilio`, 'sms', `${tag} sms`, 'twilio', { sent: 2, skipped: 1, suppressed: 1 });
  const texts = posts(twilio).slice(beforeSMS);
  assert.deepEqual(texts.map((r) => field(r, 'To')).sort(), [phones[0], phones[1]].sort(), 'nothing went to the number that replied STOP');
  assert.equal((await byAddress(nextSMS))[phones[2]].reason, 'suppressed');
  // Cyd texts START: the STOP is lifted (the bounce stays)
  const r = await postTwilio({ AccountSid: TW_SID, MessageSid: 'SM' + hex(16), From: phones[2], To: TW_FROM, Body: 'START', NumMedia: '0' });
  assert.equal(r.status, 200);
  assert.deepEqual(await suppressionsNow(), [`email ${emails[1]} hard_bounce`]);
  assert.deepEqual(mailgun.violations(), []);
  assert.deepEqual(twilio.violations(), []);
  // the check can fail: Prism flags a send without from, and the recorder keeps it
  await fetch(mailgun.url + `/v3/mg.${tag}.example/messages`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded',
    Authorization: 'Basic ' + Buffer.from('api:' + MG_KEY).toString('base64') }, body: `to=${encodeURIComponent(emails[0])}&text=hi` });
  assert.equal(mailgun.violations().length, 1, 'a request the document rejects is recorded as a violation');
  assertNoProblems();
});

uiTest("the demo data: Shared's suppressions as the webhooks leave them; Andy's Mailgun example is filled in but not set up", async () => {
  const shared = (await su.collection('workspaces').getFirstListItem('name = "Shared"')).id;
  const mine = (await su.collection('workspaces').getFirstListItem(`name = "Andy's workspace"`)).id;
  const s = await openAt(browser, problems, demoMona, '/settings/suppressions', { workspace: shared });
  const rows = s.p.getByTestId('suppressions');
  for (const reason of ['hard_bounce', 'complaint', 'sms_stop']) await rows.locator(`tr[data-reason="${reason}"]`).first().waitFor();
  await s.ctx.close();
  const m = await openAt(browser, problems, demoAndy, '/settings/mailgun', { workspace: mine });
  const form = m.p.getByRole('form', { name: 'Mailgun settings' });
  await form.waitFor();
  assert.equal(await form.getByLabel('Sending domain').inputValue(), 'mg.example.com');
  assert.equal(await m.p.getByTestId('provider-configured').textContent(), 'Not set up for this workspace yet (no api_key).');
  assert.equal(await m.p.getByTestId('secret-note-api_key').textContent(), 'Not saved.');
  await m.ctx.close();
  assert.equal((await demoAndy.send(`/api/crm/workspaces/${mine}/providers`, { method: 'GET' })).default, 'outbox', 'the outbox stays the default');
  assertNoProblems();
});
