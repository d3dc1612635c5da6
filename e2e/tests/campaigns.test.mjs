// Campaigns through the PocketBase JS SDK (the one the UI uses), against the
// real seeded server run.mjs starts: a draft with a segment, its audience,
// submit, four-eyes approval (self and editor refused, another admin
// approves), the transition table's refusals with their codes, send to the
// outbox, the ledger and the outbox messages, an edit after submission
// voiding the approval, scheduling, test sends and retry.
//
// Records are made here (../campaign-fixtures.mjs) under a unique tag.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { URL, PASSWORD, superuser, impersonate } from '../ui-helpers.mjs';
import { expectError } from '../expect.mjs';
import { fixtures, waitFor, notLanded, unsubscribeURL } from '../campaign-fixtures.mjs';

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

const tag = `cmp${Date.now().toString(36)}`;
let fx, su, andy, mona, editor, viewer;

const act = (pb, id, action, body = {}) => pb.send(`/api/crm/campaigns/${id}/${action}`, { method: 'POST', body });
const audience = (pb, id) => pb.send(`/api/crm/campaigns/${id}/audience?sample=20`, { method: 'GET' });

// route runs a call of a route of issue 14; a route missing on the server
// (404 without a code) fails the test with the route's name
async function route(t, name, p) {
  try {
    return await p;
  } catch (err) {
    if (notLanded(err)) assert.fail(`${name} is missing on this server`);
    throw err;
  }
}

before(async () => {
  su = await superuser();
  fx = await fixtures(su, tag);
  ({ andy, mona, editor, viewer } = fx);
});

const draft = (pb, name, extra = {}) =>
  pb.collection('campaigns').create({ workspace: fx.ws, name: `${tag} ${name}`, type: 'email', template: fx.template.id, segment: fx.segment, ...extra });

let main; // the campaign that goes all the way to sent

test('a draft with a segment: created through the collection API, its audience counts the skipped apart', async (t) => {
  main = await draft(andy, 'main');
  assert.equal(main.status, 'draft');
  assert.equal(main.created_by, andy.authStore.record.id);
  const aud = await route(t, 'GET /audience', audience(andy, main.id));
  if (!aud) return;
  assert.equal(aud.count, 3, JSON.stringify(aud));
  assert.equal(aud.suppressed, 1);
  assert.equal(aud.missing_address, 1);
  assert.deepEqual(aud.sample.map((c) => c.first_name).sort(), ['Ada', 'Bea', 'Cyd']);
  // a condition narrows it (the search route's operators on base fields)
  const narrowed = await andy.collection('campaigns').update(main.id, {
    segment: { ...fx.segment, conditions: [{ field: 'first_name', op: 'eq', value: 'Ada' }] },
  });
  assert.equal((await audience(andy, narrowed.id)).count, 1);
  await andy.collection('campaigns').update(main.id, { segment: fx.segment });
  assert.equal((await audience(andy, main.id)).count, 3);
});

test('server fields cannot be written through the collection API', async () => {
  await expectError(andy.collection('campaigns').update(main.id, { status: 'approved' }), [400, 404], 'status by hand');
  await expectError(andy.collection('campaigns').update(main.id, { approved_by: andy.authStore.record.id }), [400, 404], 'approved_by by hand');
  await expectError(draft(andy, 'bad', { snapshot: { x: 1 } }), 400, 'snapshot on create');
});

test('moves the table does not allow are 409 campaign_invalid_transition naming the status and the allowed actions', async (t) => {
  const err = await route(t, 'POST /send', act(andy, main.id, 'send').then(
    () => ({ status: 200, response: 'send of a draft succeeded' }),
    (e) => (notLanded(e) ? Promise.reject(e) : e),
  ));
  if (!err) return;
  assert.equal(err.status, 409, JSON.stringify(err.response));
  assert.equal(err.response.data.code, 'campaign_invalid_transition');
  assert.equal(err.response.data.status, 'draft');
  assert.ok(err.response.data.allowed.includes('submit'), JSON.stringify(err.response.data));
  for (const a of ['approve', 'reject', 'pause', 'resume', 'cancel']) {
    await expectError(act(mona, main.id, a), 409, `${a} of a draft`, 'campaign_invalid_transition');
  }
  await expectError(act(viewer, main.id, 'submit'), [403, 404], 'a viewer submits');
});

test('submit snapshots what will be sent; the submitter and an editor cannot approve, another admin can', async (t) => {
  const sub = await route(t, 'POST /submit', act(andy, main.id, 'submit'));
  if (!sub) return;
  assert.equal(sub.status, 'pending_approval');
  const rec = await su.collection('campaigns').getOne(main.id);
  assert.equal(rec.submitted_by, andy.authStore.record.id);
  assert.equal(rec.snapshot.template.subject, fx.template.subject);
  assert.deepEqual(rec.snapshot.segment.lists_any, [fx.list.id]);
  assert.match(rec.snapshot_hash, /^[0-9a-f]{64}$/);

  await expectError(act(andy, main.id, 'approve'), 403, 'self-approval', 'approval_self');
  await expectError(act(editor, main.id, 'approve'), 403, 'an editor approves', 'approval_role');
  await expectError(act(andy, main.id, 'send'), 409, 'send before approval', 'campaign_invalid_transition');

  // a later edit of the template does not change the submitted snapshot
  await andy.collection('templates').update(fx.template.id, { subject: `Changed ${tag}` });
  const ok = await act(mona, main.id, 'approve', { notes: 'looks good' });
  assert.equal(ok.status, 'approved');
  const decisions = await mona.collection('campaign_approvals').getFullList({ filter: mona.filter('campaign = {:c}', { c: main.id }) });
  const approved = decisions.find((d) => d.status === 'approved');
  assert.ok(approved, JSON.stringify(decisions));
  assert.equal(approved.reviewer, mona.authStore.record.id);
  assert.equal(approved.notes, 'looks good');
  await expectError(mona.collection('campaign_approvals').update(approved.id, { status: 'rejected' }), [403, 404], 'a decision by hand');
});

test('campaigns.self_approval lets a one-person business approve its own campaign; without it, approval_self', async (t) => {
  const email = `${tag}.solo@example.org`;
  const u = await su.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name: 'Solo Owner', verified: true });
  const solo = await impersonate(su, email);
  const w = (await solo.collection('workspaces').create({ name: `${tag} solo`, owner: u.id })).id;
  await solo.collection('contacts').create({ workspace: w, first_name: 'Only', primary_email: `only.${tag}@example.org` });
  const tpl = await solo.collection('templates').create({ workspace: w, name: 'solo', channel: 'email', subject: 'Hi', body_html: '<p>Hi {{first_name}}</p>' });
  const a = await solo.collection('campaigns').create({ workspace: w, name: 'first', type: 'email', template: tpl.id });
  if (!(await route(t, 'POST /submit', act(solo, a.id, 'submit')))) return;
  await expectError(act(solo, a.id, 'approve'), 403, 'self-approval without the setting', 'approval_self');
  await solo.collection('system_settings').create({ scope: 'workspace', scope_id: w, setting_key: 'campaigns.self_approval', setting_value: true });
  const ok = await act(solo, a.id, 'approve', { notes: 'just me' });
  assert.equal(ok.status, 'approved');
  assert.equal(ok.approved_by, u.id);
});

test('send: every recipient gets one outbox message and one final ledger row; the skipped are in the ledger with their reason', async (t) => {
  if ((await su.collection('campaigns').getOne(main.id)).status !== 'approved') return assert.fail('not approved (an earlier route did not land)');
  const probe = await andy.send(`/api/crm/campaigns/${main.id}/retry`, { method: 'POST', body: { statuses: ['failed'] } }).catch((e) => e);
  if (notLanded(probe)) return assert.fail('the sending engine (hooks/sending.go) has not landed');
  const started = await route(t, 'POST /send', act(andy, main.id, 'send'));
  if (!started) return;
  assert.ok(['sending', 'sent'].includes(started.status), started.status);
  const done = await waitFor(async () => {
    const c = await andy.collection('campaigns').getOne(main.id);
    return c.status === 'sent' ? c : null;
  }, 'the campaign to be sent');
  assert.equal(done.counters.sent, 3, JSON.stringify(done.counters));
  assert.equal(done.counters.skipped, 2, JSON.stringify(done.counters));

  const rows = await andy.collection('campaign_deliveries').getFullList({ filter: andy.filter('campaign = {:c}', { c: main.id }) });
  assert.equal(rows.length, 5);
  const byStatus = (s) => rows.filter((r) => r.status === s);
  assert.equal(byStatus('sent').length, 3);
  assert.deepEqual(byStatus('skipped').map((r) => r.reason).sort(), ['missing_address', 'suppressed']);
  for (const r of byStatus('sent')) assert.ok(r.sent_at, 'sent_at');

  const msgs = await andy.collection('outbox_messages').getFullList({ filter: andy.filter('campaign = {:c}', { c: main.id }) });
  assert.equal(msgs.length, 3);
  assert.deepEqual(msgs.map((m) => m.to).sort(), ['ada', 'bea', 'cyd'].map((n) => `${n}.${tag}@example.org`));
  const ada = msgs.find((m) => m.to.startsWith('ada.'));
  // the snapshot is what was sent, not the template as changed after submission
  assert.equal(ada.subject, `News for Ada ${tag}`);
  assert.match(ada.html, /Hello Ada/);
  assert.ok(unsubscribeURL(ada.headers), 'List-Unsubscribe: ' + JSON.stringify(ada.headers));
  await expectError(andy.collection('outbox_messages').create({ workspace: fx.ws, to: 'x@example.org' }), [400, 403], 'an outbox row by hand');
  // a viewer reads the ledger and the outbox
  assert.equal((await viewer.collection('outbox_messages').getList(1, 1, { filter: viewer.filter('campaign = {:c}', { c: main.id }) })).totalItems, 3);

  await expectError(act(andy, main.id, 'pause'), 409, 'pause of a sent campaign', 'campaign_invalid_transition');
});

test('an edit after submission returns the campaign to draft and voids its approval', async (t) => {
  const c = await draft(andy, 'voided');
  if (!(await route(t, 'POST /submit', act(andy, c.id, 'submit')))) return;
  await act(mona, c.id, 'approve');
  const edited = await andy.collection('campaigns').update(c.id, { name: `${tag} voided 2` });
  assert.equal(edited.status, 'draft');
  const decisions = await mona.collection('campaign_approvals').getFullList({ filter: mona.filter('campaign = {:c}', { c: c.id }) });
  assert.ok(decisions.some((d) => d.status === 'voided'), JSON.stringify(decisions.map((d) => d.status)));
  assert.ok(!decisions.some((d) => d.status === 'approved'), 'no approval left standing');
  await expectError(act(andy, c.id, 'send'), 409, 'send of the edited campaign', 'campaign_invalid_transition');
});

test('schedule: a time in the past is 400 schedule_invalid, a bad zone too; a future time is scheduled; cancel', async (t) => {
  const c = await draft(andy, 'scheduled');
  if (!(await route(t, 'POST /submit', act(andy, c.id, 'submit')))) return;
  await act(mona, c.id, 'reject', { notes: 'not yet' });
  assert.equal((await andy.collection('campaigns').getOne(c.id)).status, 'rejected');
  await andy.collection('campaigns').update(c.id, { name: `${tag} scheduled again` });
  await act(andy, c.id, 'submit');
  await act(mona, c.id, 'approve');
  await expectError(act(andy, c.id, 'schedule', { at: '2001-01-01T09:00:00Z', timezone: 'Europe/Berlin' }), 400, 'in the past', 'schedule_invalid');
  const at = new Date(Date.now() + 3 * 86400_000).toISOString();
  await expectError(act(andy, c.id, 'schedule', { at, timezone: 'Mars/Olympus' }), 400, 'unknown zone', 'schedule_invalid');
  const s = await act(andy, c.id, 'schedule', { at, timezone: 'America/New_York' });
  assert.equal(s.status, 'scheduled');
  assert.equal(s.timezone, 'America/New_York');
  assert.equal(new Date(s.scheduled_at.replace(' ', 'T')).getTime(), new Date(at).getTime());
  const x = await act(andy, c.id, 'cancel');
  assert.equal(x.status, 'cancelled');
  await expectError(act(andy, c.id, 'resume'), 409, 'resume of a cancelled campaign', 'campaign_invalid_transition');
});

test('a test send of a draft goes to the outbox marked as a test and is not counted', async (t) => {
  const c = await draft(andy, 'test-send');
  const to = `test.${tag}@example.org`;
  if (!(await route(t, 'POST /test', act(andy, c.id, 'test', { addresses: [to], contact: fx.contacts[1].id })))) return;
  const msg = await waitFor(async () => (await andy.collection('outbox_messages').getList(1, 1, { filter: andy.filter('to = {:to}', { to }) })).items[0], 'the test message');
  assert.equal(msg.test, true);
  // a draft renders its live template (changed by the approval test, if it ran)
  assert.ok([`Changed ${tag}`, `News for Bea ${tag}`].includes(msg.subject.replace(/^\[Test\] /, '')), msg.subject);
  assert.match(msg.html, /Hello Bea/);
  const rec = await andy.collection('campaigns').getOne(c.id);
  assert.equal(rec.status, 'draft');
  assert.equal((await andy.collection('campaign_deliveries').getList(1, 1, { filter: andy.filter('campaign = {:c}', { c: c.id }) })).totalItems, 0);
});

test('retry of a sent campaign with nothing failed changes nothing', async (t) => {
  if ((await su.collection('campaigns').getOne(main.id)).status !== 'sent') return assert.fail('the main campaign was not sent');
  const res = await route(t, 'POST /retry', act(andy, main.id, 'retry', { statuses: ['failed', 'unknown'] }).catch((e) => (e.status === 409 ? e : Promise.reject(e))));
  if (!res) return;
  const msgs = await andy.collection('outbox_messages').getFullList({ filter: andy.filter('campaign = {:c}', { c: main.id }) });
  assert.equal(msgs.length, 3, 'no message twice');
});

test('the unsubscribe link: GET changes nothing, POST suppresses the address; a tampered token is 404', async (t) => {
  const msgs = await andy.collection('outbox_messages').getFullList({ filter: andy.filter('campaign = {:c}', { c: main.id }) });
  const bea = msgs.find((m) => m.to.startsWith('bea.'));
  if (!bea) return assert.fail('no message was sent');
  const link = unsubscribeURL(bea.headers);
  if (!link) return assert.fail('no List-Unsubscribe header');
  const path = new globalThis.URL(link).pathname;
  const suppressed = async () =>
    (await andy.collection('suppressions').getList(1, 1, { filter: andy.filter('workspace = {:w} && address = {:a}', { w: fx.ws, a: bea.to }) })).totalItems;
  const get = await fetch(URL + path);
  const page = await get.text();
  if (get.status === 200 && page.includes('/assets/index-')) return assert.fail('the unsubscribe routes have not landed (the web app answered)');
  assert.equal(get.status, 200, `GET ${path}`);
  assert.match(page, /unsubscribe/i, 'the confirmation page');
  assert.equal(await suppressed(), 0, 'GET changed nothing');
  const post = await fetch(URL + path, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
  assert.ok(post.status < 300, `POST ${path}: ${post.status}`);
  assert.equal(await suppressed(), 1, 'POST suppressed the address');
  const tampered = path.slice(0, -2) + (path.endsWith('aa') ? 'bb' : 'aa');
  assert.equal((await fetch(URL + tampered, { method: 'POST', body: 'List-Unsubscribe=One-Click' })).status, 404);
});
