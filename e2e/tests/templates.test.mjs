// Templates through the PocketBase JS SDK (the one the UI uses), against the
// real seeded server run.mjs starts: a template with a custom field renders
// differently for two contacts, a broken template is refused at save with its
// line, viewers cannot write templates, another workspace's contact is 404.
//
// Records this file needs (a custom field, contacts) are made here; the demo
// data only supplies the users and workspaces.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { URL, PASSWORD, superuser, impersonate } from '../ui-helpers.mjs';
import { expectError } from '../expect.mjs';

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

const tag = `tpl${Date.now().toString(36)}`;
const tier = `tier_${tag}`;
let su, andy, mona, viewer;
const ws = {};
let gold, silver, foreign; // contacts

const preview = (pb, id, body) => pb.send(`/api/crm/templates/${id}/preview`, { method: 'POST', body });
const previewUnsaved = (pb, body) => pb.send('/api/crm/templates/preview', { method: 'POST', body });

before(async () => {
  su = await superuser();
  andy = await impersonate(su, 'andy@example.com');
  mona = await impersonate(su, 'monalisa@example.com');
  for (const n of ["Andy's workspace", "Monalisa's workspace", 'Shared']) {
    ws[n] = (await su.collection('workspaces').getFirstListItem(su.filter('name = {:n}', { n }))).id;
  }
  const email = `${tag}.viewer@example.org`;
  const u = await su.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name: 'Tess Viewer', verified: true });
  await su.collection('workspace_members').create({ workspace: ws.Shared, user: u.id, role: 'viewer' });
  viewer = await impersonate(su, email);

  await andy.collection('custom_field_definitions').create({
    user: andy.authStore.record.id, workspace: ws.Shared, field_name: tier, label: 'Tier', field_type: 'text',
  });
  gold = await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Gilda', last_name: `${tag}-Gold`, custom: { [tier]: 'Gold' } });
  silver = await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Silvio', last_name: `${tag}-Silver`, custom: { [tier]: 'Silver' } });
  foreign = await andy.collection('contacts').create({ workspace: ws["Andy's workspace"], first_name: 'Private', last_name: `${tag}-Foreign` });
});

const HTML = `<h1>Hello {{first_name | default "there"}}</h1>\n<p>Your tier: <b>{{custom.${tier}}}</b></p>\n<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>`;
let tpl;

test('an email template with a custom field is saved: ready, version 1, text part generated', async () => {
  tpl = await andy.collection('templates').create({
    workspace: ws.Shared, name: `${tag} welcome`, channel: 'email', subject: 'Hi {{first_name}}', preheader: 'Your {{custom.' + tier + '}} perks', body_html: HTML,
  });
  assert.equal(tpl.status, 'ready');
  assert.equal(tpl.version, 1);
  assert.equal(tpl.text_auto, true);
  assert.match(tpl.body_text, /Your tier:/);
});

test('preview for two contacts renders each one\'s values', async () => {
  const a = await preview(andy, tpl.id, { contact: gold.id });
  const b = await preview(andy, tpl.id, { contact: silver.id });
  assert.equal(a.subject, 'Hi Gilda');
  assert.equal(b.subject, 'Hi Silvio');
  assert.equal(a.preheader, 'Your Gold perks');
  assert.match(a.html, /Hello Gilda/);
  assert.match(a.html, /<b>Gold<\/b>/);
  assert.match(b.html, /<b>Silver<\/b>/);
  assert.doesNotMatch(b.html, /Gold/);
  assert.match(a.text, /Gold/);
  assert.match(b.text, /Silver/);
  // the unsaved preview (the editor's) answers the same for the same source
  const u = await previewUnsaved(andy, {
    workspace: ws.Shared, contact: silver.id,
    template: { channel: 'email', subject: tpl.subject, preheader: tpl.preheader, body_html: tpl.body_html, body_text: '', signature: '' },
  });
  assert.equal(u.subject, 'Hi Silvio');
  assert.match(u.html, /<b>Silver<\/b>/);
});

test('an SMS template: the preview counts segments of the rendered text', async () => {
  const sms = await andy.collection('templates').create({ workspace: ws.Shared, name: `${tag} sms`, channel: 'sms', body_text: 'Hi {{first_name}}, you are {{custom.' + tier + '}} €' });
  const a = await preview(andy, sms.id, { contact: gold.id });
  assert.equal(a.text, 'Hi Gilda, you are Gold €');
  assert.deepEqual(a.sms, { encoding: 'GSM-7', characters: 'Hi Gilda, you are Gold '.length + 2, segments: 1 });
});

test('a broken template is refused at save with its line and token', async () => {
  const bad = `<p>one</p>\n<p>two</p>\n<p>{{first_name | nosuch}}</p>`;
  let err = await expectError(
    andy.collection('templates').create({ workspace: ws.Shared, name: `${tag} broken`, channel: 'email', subject: 'x', body_html: bad }),
    400, 'unknown function',
  );
  let d = err.response.data;
  assert.equal(d.code, 'template_invalid');
  assert.equal(d.field, 'body_html');
  assert.equal(d.line, 3);
  assert.equal(d.token, 'nosuch');
  assert.ok(d.column > 0, 'a column');

  err = await expectError(
    andy.collection('templates').create({ workspace: ws.Shared, name: `${tag} broken2`, channel: 'email', subject: 'x', body_html: '<p>\n{{custom.nope}}</p>' }),
    400, 'unknown custom field',
  );
  d = err.response.data;
  assert.equal(d.code, 'template_invalid');
  assert.equal(d.line, 2);
  assert.match(String(d.token), /nope/);

  // an update to a broken source is refused and the record stays as it was
  err = await expectError(andy.collection('templates').update(tpl.id, { subject: 'Hi {{frist_name}}' }), 400, 'unknown variable in the subject');
  assert.equal(err.response.data.field, 'subject');
  assert.equal((await andy.collection('templates').getOne(tpl.id)).subject, 'Hi {{first_name}}');
  assert.equal((await andy.collection('templates').getFullList({ filter: andy.filter('name ~ {:n}', { n: `${tag} broken` }) })).length, 0);

  // the unsaved preview says the same
  err = await expectError(previewUnsaved(andy, { workspace: ws.Shared, template: { channel: 'email', subject: 'x', body_html: bad } }), 400, 'preview of a broken source');
  assert.equal(err.response.data.code, 'template_invalid');
  assert.equal(err.response.data.line, 3);
});

test('a second template of the same name in the workspace is 409 template_name_taken', async () => {
  const err = await expectError(
    andy.collection('templates').create({ workspace: ws.Shared, name: `${tag} welcome`, channel: 'email', subject: 'x', body_html: '<p>x</p>' }),
    409, 'duplicate name',
  );
  assert.equal(err.response.data.code, 'template_name_taken');
});

test('a viewer reads templates but cannot create or change one', async () => {
  const seen = await viewer.collection('templates').getOne(tpl.id);
  assert.equal(seen.name, tpl.name);
  await expectError(viewer.collection('templates').create({ workspace: ws.Shared, name: `${tag} viewer`, channel: 'email', subject: 'x', body_html: '<p>x</p>' }), [400, 403], 'viewer create');
  await expectError(viewer.collection('templates').update(tpl.id, { subject: 'changed' }), [403, 404], 'viewer update');
  assert.equal((await andy.collection('templates').getOne(tpl.id)).subject, 'Hi {{first_name}}');
});

test("another workspace's contact is 404 in a preview, and so is another workspace's template", async () => {
  let err = await expectError(preview(andy, tpl.id, { contact: foreign.id }), 404, "a contact of Andy's workspace for a Shared template");
  assert.doesNotMatch(JSON.stringify(err.response), /Private/);
  err = await expectError(previewUnsaved(andy, { workspace: ws.Shared, contact: foreign.id, template: { channel: 'email', subject: '{{first_name}}', body_html: '<p>x</p>' } }), 404, 'unsaved preview, foreign contact');
  assert.doesNotMatch(JSON.stringify(err.response), /Private/);
  // Monalisa is not a member of Andy's workspace: its template does not exist for her
  const mine = await andy.collection('templates').create({ workspace: ws["Andy's workspace"], name: `${tag} private`, channel: 'email', subject: 'x', body_html: '<p>x</p>' });
  await expectError(preview(mona, mine.id, {}), 404, "Monalisa previews Andy's private template");
  await expectError(previewUnsaved(mona, { workspace: ws["Andy's workspace"], template: { channel: 'email', subject: 'x', body_html: '<p>x</p>' } }), 404, "Monalisa previews in Andy's workspace");
  // positive control: Monalisa (admin of Shared) previews the Shared template for a Shared contact
  const ok = await preview(mona, tpl.id, { contact: gold.id });
  assert.equal(ok.subject, 'Hi Gilda');
});

test('the placeholders of a workspace name its custom fields', async () => {
  const res = await andy.send(`/api/crm/workspaces/${ws.Shared}/placeholders`, { method: 'GET' });
  const names = res.variables.map((v) => v.name);
  for (const n of ['first_name', 'company', 'unsubscribe_url', `custom.${tier}`]) assert.ok(names.includes(n), `${n} in ${names}`);
  assert.ok(res.functions.some((f) => f.name === 'default'));
  await expectError(mona.send(`/api/crm/workspaces/${ws["Andy's workspace"]}/placeholders`, { method: 'GET' }), 404, "another's workspace");
});
