// The CSV import route through the real PocketBase JS SDK (pb.send with a
// FormData body, as a user's script and the UI send it), against the seeded
// server run.mjs starts (issue 18): the options given as multipart fields of
// their own are applied (mode=upsert really upserts), an unknown field or a
// conflicting one is refused with a stable code, and a Google Contacts
// export with a phone libphonenumber's tables call invalid, and one that
// cannot be read, imports every contact.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { expectError } from '../expect.mjs';
import { URL, superuser, impersonate } from '../ui-helpers.mjs';

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

const tag = `imp${Date.now().toString(36)}`;
// a possible UK mobile number of this run (07700 9xxxxx: the drama range)
const ukMobile = `+44 7700 9${String(Date.now() % 100000).padStart(5, '0')}`;
let andy, ws;

before(async () => {
  const su = await superuser();
  andy = await impersonate(su, 'andy@example.com');
  ws = (await su.collection('workspaces').getFirstListItem(su.filter('name = {:n}', { n: "Andy's workspace" }))).id;
});

// start posts a FormData of fields ([name, value] pairs, in order) and the CSV.
function start(fields, csv, name = `${tag}.csv`) {
  const form = new FormData();
  for (const [k, v] of fields) form.append(k, v);
  form.append('file', new Blob([csv], { type: 'text/csv' }), name);
  return andy.send(`/api/crm/workspaces/${encodeURIComponent(ws)}/import`, { method: 'POST', body: form });
}

// finished waits for a job to end (the route answers 202 with it queued).
async function finished(id) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const job = await andy.collection('import_jobs').getOne(id);
    if (['completed', 'failed', 'undone'].includes(job.status)) return job;
    if (Date.now() > deadline) assert.fail(`job ${id} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const byEmail = (email) => andy.collection('contacts').getFirstListItem(andy.filter('workspace = {:ws} && primary_email = {:e}', { ws, e: email }));

test('multipart option fields are applied: mode=upsert upserts, dry_run and list too', async () => {
  const email = `${tag}.ada@example.org`;
  let job = await finished((await start([], `First Name,Last Name,Email,Company\nAda,${tag},${email},Old Co\n`)).id);
  assert.equal(job.status, 'completed', job.error);
  assert.equal((await byEmail(email)).company, 'Old Co');

  const list = await andy.collection('contact_lists').create({ workspace: ws, name: `${tag} fair` });
  const queued = await start([['mode', 'upsert'], ['list', list.id], ['mapping', JSON.stringify({ Org: 'company' })]],
    `First Name,Last Name,Email,Org\nAda,${tag},${email},New Co\nBea,${tag},${tag}.bea@example.org,Bea Ltd\n`);
  assert.equal(queued.status, 'queued');
  job = await finished(queued.id);
  assert.equal(job.status, 'completed', job.error);
  assert.equal(job.options.mode, 'upsert');
  assert.deepEqual([job.counts.updated, job.counts.created, job.counts.failed], [1, 1, 0], JSON.stringify(job.counts));
  assert.equal((await byEmail(email)).company, 'New Co', 'the matched contact was updated (upsert), its Org column mapped');
  const inList = await andy.collection('contact_list_assignments').getList(1, 1, { filter: andy.filter('list = {:l}', { l: list.id }) });
  assert.equal(inList.totalItems, 2);

  job = await finished((await start([['dry_run', 'true'], ['mode', 'upsert']], `Email,Company\n${email},Dry Co\n`)).id);
  assert.equal(job.options.dry_run, true);
  assert.equal(job.counts.updated, 1);
  assert.equal((await byEmail(email)).company, 'New Co', 'a dry run writes nothing');
});

test('an unknown multipart field, or one given two ways differently, is refused with a code', async () => {
  const csv = `Email\n${tag}.never@example.org\n`;
  let err = await expectError(start([['mdoe', 'upsert']], csv), 400, 'misspelt field', 'import_option_unknown');
  assert.equal(err.response.data.field, 'mdoe');
  assert.match(err.response.message, /mdoe/);
  err = await expectError(start([['options', JSON.stringify({ mode: 'create' })], ['mode', 'upsert']], csv), 400, 'both ways', 'import_option_conflict');
  assert.equal(err.response.data.field, 'mode');
  await expectError(start([['options', JSON.stringify({ mod: 'upsert' })]], csv), 400, 'unknown options key', 'import_option_unknown');
  await expectError(start([['mode', 'sometimes']], csv), 400, 'bad mode field', 'import_invalid_options');
  // the same value both ways is one option
  const job = await finished((await start([['options', JSON.stringify({ mode: 'skip_existing' })], ['mode', 'skip_existing']], csv)).id);
  assert.equal(job.options.mode, 'skip_existing');
  assert.equal(job.counts.created, 1);
});

test('a Google Contacts export keeps every contact: a possible phone in E.164, an unreadable one a warning', async () => {
  const header = 'First Name,Middle Name,Last Name,Nickname,Organization Name,Labels,E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value';
  const csv = [header,
    `Olivia,,${tag}-G,,Bennett & Co,* myContacts,* Work,${tag}.olivia@example.co.uk,Mobile,${ukMobile}`,
    `Raj,,${tag}-G,,,* myContacts,* Home,${tag}.raj@example.com,Work,ask reception`].join('\r\n');
  const job = await finished((await start([], csv, 'contacts.csv')).id);
  assert.equal(job.status, 'completed', job.error);
  assert.deepEqual([job.counts.created, job.counts.failed, job.counts.warnings], [2, 0, 1], JSON.stringify(job.counts));
  assert.equal((await byEmail(`${tag}.olivia@example.co.uk`)).primary_phone, ukMobile.replaceAll(' ', ''));
  assert.equal((await byEmail(`${tag}.raj@example.com`)).primary_phone, '');
  const [w] = job.error_report.sample;
  assert.deepEqual([w.row, w.column, w.code, w.value, w.warning], [3, 'Phone 1 - Value', 'phone_dropped', 'ask reception', true]);
  // the collection API stays strict, with a message that fits the number
  const err = await expectError(andy.collection('contacts').create({ workspace: ws, primary_phone: '+44 12' }), 400, 'short number', 'contact_invalid_phone');
  assert.match(err.response.data.primary_phone.message, /too short for a phone number with country code \+44/);
});
