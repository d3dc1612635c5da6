#!/usr/bin/env node
// pi-crm through the PocketBase JS SDK: log in, create two contacts with
// custom fields, find them with the search route, and merge them (asking for
// the conflicts first, the way a UI would, then resolving them).
//
//   cd examples && npm install pocketbase@0.28.1   # once (or reuse e2e/node_modules)
//   PICRM_URL=http://127.0.0.1:8090 PICRM_EMAIL=andy@example.com PICRM_PASSWORD=pi-crm-demo node merge-contacts.mjs
//
// It works on the demo data ("Andy's workspace" and its custom fields
// industry: select, vip: boolean) and prints a JSON summary as its last line.

import PocketBase, { ClientResponseError } from 'pocketbase';

const url = process.env.PICRM_URL || 'http://127.0.0.1:8090';
const email = process.env.PICRM_EMAIL || 'andy@example.com';
const password = process.env.PICRM_PASSWORD || 'pi-crm-demo';
const workspaceName = process.env.PICRM_WORKSPACE || "Andy's workspace";

const pb = new PocketBase(url);
pb.autoCancellation(false);

// 1. log in
await pb.collection('users').authWithPassword(email, password);
const ws = await pb.collection('workspaces').getFirstListItem(pb.filter('name = {:n}', { n: workspaceName }));
console.log(`logged in as ${email}; workspace ${ws.name} (${ws.id})`);

// 2. two contacts for the same person, with custom values
const tag = Date.now().toString(36);
const grace = await pb.collection('contacts').create({
  workspace: ws.id,
  first_name: 'Grace',
  last_name: `Hopper-${tag}`,
  primary_email: `grace.${tag}@example.org`,
  company: 'Navy',
  custom: { industry: 'Software', vip: true },
});
const dupe = await pb.collection('contacts').create({
  workspace: ws.id,
  first_name: 'Grace',
  last_name: `Hopper-${tag}`,
  primary_email: `G.Hopper.${tag}@Example.org`, // stored trimmed and lower-cased
  primary_phone: '+1 415 555 0199',
  custom: { industry: 'Health' },
});
console.log(`created ${grace.id} and ${dupe.id} (custom: ${JSON.stringify(grace.custom)}, ${JSON.stringify(dupe.custom)})`);

// 3. search: the search route (case-insensitive prefix on name, email,
// phone, company), and the collection API's own filter syntax
const found = await pb.send('/api/crm/contacts/search', {
  query: { workspace: ws.id, q: `hopper-${tag}` },
});
const filtered = await pb.collection('contacts').getList(1, 10, {
  filter: pb.filter('workspace = {:ws} && last_name ~ {:q} && custom.industry = "Software"', { ws: ws.id, q: tag }),
});
console.log(`search found ${found.totalItems}; filter on custom.industry found ${filtered.totalItems}`);

// 4. merge: first without a resolution, to learn the conflicts
let conflicts = [];
try {
  await pb.send('/api/crm/contacts/merge', { method: 'POST', body: { source: dupe.id, target: grace.id } });
} catch (err) {
  if (!(err instanceof ClientResponseError) || err.response?.data?.code !== 'merge_conflict_unresolved') throw err;
  conflicts = err.response.data.conflicts;
  for (const c of conflicts) console.log(`conflict ${c.field}: source ${JSON.stringify(c.source)} / target ${JSON.stringify(c.target)}`);
}
// answer every conflict: the source's industry, the target's value for the
// rest; values only one side has (the phone) are united without asking
const resolution = Object.fromEntries(conflicts.map((c) => [c.field, 'target']));
resolution['custom.industry'] = 'source';
const preview = await pb.send('/api/crm/contacts/merge', {
  method: 'POST',
  body: { source: dupe.id, target: grace.id, resolution, dry_run: true },
});
const merged = await pb.send('/api/crm/contacts/merge', {
  method: 'POST',
  body: { source: dupe.id, target: grace.id, resolution },
});
console.log(`merged ${dupe.id} into ${grace.id} (merge ${merged.merge_id}, undo until ${merged.undo_until}); moved ${JSON.stringify(merged.moved)}`);

console.log(
  JSON.stringify({
    workspace: ws.id,
    target: grace.id,
    source: dupe.id,
    searchTotal: found.totalItems,
    searchIds: found.items.map((c) => c.id),
    filterIds: filtered.items.map((c) => c.id),
    conflicts: conflicts.map((c) => c.field).sort(),
    previewDryRun: preview.dry_run,
    mergeId: merged.merge_id,
    contact: merged.contact,
  }),
);
