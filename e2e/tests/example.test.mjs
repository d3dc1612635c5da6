// Runs examples/merge-contacts.mjs (the JS SDK merge example) against the
// real server and checks what it did, through the SDK again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, symlinkSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import PocketBase from 'pocketbase';

const here = dirname(fileURLToPath(import.meta.url));
const examples = join(here, '..', '..', 'examples');
const URL = process.env.PICRM_URL;
const PASSWORD = process.env.PICRM_PASSWORD || 'pi-crm-demo';
assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

test('examples/merge-contacts.mjs logs in, creates, searches and merges', async () => {
  // the example imports 'pocketbase' like any user script: lend it ours
  const modules = join(examples, 'node_modules');
  const lent = !existsSync(modules);
  if (lent) symlinkSync(join(here, '..', 'node_modules'), modules, 'dir');
  let run;
  try {
    run = spawnSync(process.execPath, [join(examples, 'merge-contacts.mjs')], {
      env: { ...process.env, PICRM_URL: URL, PICRM_EMAIL: 'andy@example.com', PICRM_PASSWORD: PASSWORD },
      encoding: 'utf8',
      timeout: 30_000,
    });
  } finally {
    if (lent) rmSync(modules, { force: true });
  }
  assert.equal(run.status, 0, `example failed:\n${run.stdout}\n${run.stderr}`);
  const lines = run.stdout.trim().split('\n');
  const out = JSON.parse(lines[lines.length - 1]);

  // search found both contacts, the custom-field filter only the Software one
  assert.equal(out.searchTotal, 2);
  assert.deepEqual([...out.searchIds].sort(), [out.source, out.target].sort());
  assert.deepEqual(out.filterIds, [out.target]);
  // the UI-style first attempt listed the conflicts; the dry run wrote nothing
  // (vip: the source got the definition's default, false)
  assert.deepEqual(out.conflicts, ['custom.industry', 'custom.vip', 'primary_email']);
  assert.equal(out.previewDryRun, true);
  assert.ok(out.mergeId);

  // the result, read back through the SDK
  const pb = new PocketBase(URL);
  await pb.collection('users').authWithPassword('andy@example.com', PASSWORD);
  const target = await pb.collection('contacts').getOne(out.target);
  assert.equal(target.primary_phone, '+14155550199'); // only the source had one: united
  assert.deepEqual(target.custom, { industry: 'Health', vip: true });
  await assert.rejects(pb.collection('contacts').getOne(out.source), (e) => e.status === 404);
  const merge = await pb.collection('contact_merges').getOne(out.mergeId);
  assert.equal(merge.source_id, out.source);
  const entries = await pb.collection('communication_logs').getFullList({
    filter: pb.filter('contact = {:c} && type = "system" && content ~ "Merged contact"', { c: out.target }),
  });
  assert.equal(entries.length, 1);
});
