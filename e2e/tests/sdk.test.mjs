// Workspace isolation through the real PocketBase JS SDK (the one the UI uses),
// against a real pi-crm server seeded with the demo data (see ../run.mjs).
//
// Andy owns "Andy's workspace" and "Shared"; Monalisa owns "Monalisa's
// workspace" and is an admin of "Shared". Every negative check below has a
// positive control (Andy can do it, or Monalisa can do it in Shared), so a
// check cannot pass just because the feature is broken for everybody.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import PocketBase, { ClientResponseError } from 'pocketbase';
import EventSource from 'eventsource';
import { expectError } from '../expect.mjs';

// Node 20 has no EventSource; the SDK's realtime client needs one.
globalThis.EventSource ??= EventSource;

const URL = process.env.PICRM_URL;
const PASSWORD = process.env.PICRM_PASSWORD || 'pi-crm-demo';
const ANDY = 'andy@example.com';
const MONALISA = 'monalisa@example.com';
const QUIET_MS = 1500; // how long "no realtime event" is waited for

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

// a unique tag per run, so created records never collide with the demo data
const tag = `e2e${Date.now().toString(36)}`;
let seq = 0;
const newContact = (workspace, extra = {}) => ({
  workspace,
  first_name: 'E2e',
  last_name: `${tag}-${++seq}`,
  primary_email: `${tag}.${seq}@example.org`,
  ...extra,
});

function client() {
  const pb = new PocketBase(URL);
  pb.autoCancellation(false); // tests may send identical requests concurrently
  return pb;
}

async function login(email) {
  const pb = client();
  await pb.collection('users').authWithPassword(email, PASSWORD);
  return pb;
}

// expectRefusedOrEmpty: a list request that may either be refused (400) or
// answer, but then with no record at all.
async function expectRefusedOrEmpty(p, what) {
  try {
    const res = await p;
    assert.equal(res.totalItems, 0, `${what}: leaked ${JSON.stringify(res.items).slice(0, 300)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof ClientResponseError, `${what}: ${err}`);
    assert.equal(err.status, 400, `${what}: status ${err.status}`);
  }
}

const byWorkspace = (ws) => `workspace = "${ws}"`;

async function countContacts(pb, ws) {
  const res = await pb.collection('contacts').getList(1, 1, { filter: byWorkspace(ws) });
  return res.totalItems;
}

function waitFor(cond, ms, what) {
  return new Promise((ok, fail) => {
    const deadline = Date.now() + ms;
    const tick = () => {
      if (cond()) return ok();
      if (Date.now() > deadline) return fail(new Error(`timed out after ${ms}ms waiting for ${what}`));
      setTimeout(tick, 25);
    };
    tick();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let andy, mona;
const ws = {}; // name -> id, as Andy sees them (plus Monalisa's own)
let andyPrivateContact; // a demo contact in Andy's private workspace

before(async () => {
  andy = await login(ANDY);
  mona = await login(MONALISA);
  for (const w of await andy.collection('workspaces').getFullList()) ws[w.name] = w.id;
  for (const w of await mona.collection('workspaces').getFullList()) ws[w.name] = w.id;
  for (const name of ["Andy's workspace", "Monalisa's workspace", 'Shared']) {
    assert.ok(ws[name], `workspace ${name} is missing from the demo data`);
  }
  const list = await andy.collection('contacts').getList(1, 1, { filter: byWorkspace(ws["Andy's workspace"]) });
  assert.equal(list.items.length, 1, "Andy's workspace has no contacts in the demo data");
  andyPrivateContact = list.items[0];
});

after(() => {
  andy?.realtime.unsubscribe().catch(() => {});
  mona?.realtime.unsubscribe().catch(() => {});
});

test('authentication', async (t) => {
  await t.test('Andy and Monalisa log in with the demo password', () => {
    assert.equal(andy.authStore.record.email, ANDY);
    assert.equal(mona.authStore.record.email, MONALISA);
    assert.ok(andy.authStore.isValid && mona.authStore.isValid);
    assert.notEqual(andy.authStore.record.id, mona.authStore.record.id);
  });

  await t.test('a wrong password is refused with 400', async () => {
    const pb = client();
    await expectError(pb.collection('users').authWithPassword(ANDY, 'not-the-password'), 400, 'wrong password');
    assert.equal(pb.authStore.token, '');
  });
});

test("Monalisa cannot reach Andy's private workspace", async (t) => {
  const priv = () => ws["Andy's workspace"];

  await t.test('she lists Shared and her own workspace only', async () => {
    const names = (await mona.collection('workspaces').getFullList()).map((w) => w.name).sort();
    assert.deepEqual(names, ["Monalisa's workspace", 'Shared']);
    // control: Andy sees his private workspace through the same call
    const andyNames = (await andy.collection('workspaces').getFullList()).map((w) => w.name);
    assert.ok(andyNames.includes("Andy's workspace"));
    assert.ok(!andyNames.includes("Monalisa's workspace"));
  });

  await t.test('getOne of the workspace is 404', async () => {
    assert.equal((await andy.collection('workspaces').getOne(priv())).id, priv()); // control
    await expectError(mona.collection('workspaces').getOne(priv()), 404, "getOne Andy's workspace");
  });

  await t.test('listing its contacts returns nothing', async () => {
    assert.ok((await countContacts(andy, priv())) > 0, 'control: Andy sees contacts there');
    const res = await mona.collection('contacts').getList(1, 50, { filter: byWorkspace(priv()) });
    assert.equal(res.totalItems, 0);
    assert.equal(res.items.length, 0);
    // nor does an unfiltered list contain any of them
    const all = await mona.collection('contacts').getFullList({ fields: 'id,workspace' });
    assert.ok(all.length > 0, 'control: Monalisa sees her own contacts');
    assert.ok(all.every((c) => c.workspace !== priv()), 'a private contact of Andy leaked into her list');
  });

  await t.test('getOne of one of its contacts is 404', async () => {
    assert.equal((await andy.collection('contacts').getOne(andyPrivateContact.id)).id, andyPrivateContact.id); // control
    await expectError(mona.collection('contacts').getOne(andyPrivateContact.id), 404, 'getOne private contact');
  });

  await t.test('creating a contact in it is refused (400) and creates nothing', async () => {
    const before = await countContacts(andy, priv());
    const data = newContact(priv());
    await expectError(mona.collection('contacts').create(data), 400, 'create in private workspace');
    assert.equal(await countContacts(andy, priv()), before);
    const found = await andy.collection('contacts').getList(1, 1, { filter: `primary_email = "${data.primary_email}"` });
    assert.equal(found.totalItems, 0);
    // control: the same request into Shared, where she is admin, works
    const ok = await mona.collection('contacts').create(newContact(ws.Shared));
    assert.equal(ok.workspace, ws.Shared);
  });

  await t.test('updating or deleting one of its contacts is 404 and changes nothing', async () => {
    const id = andyPrivateContact.id;
    await expectError(mona.collection('contacts').update(id, { company: 'Hacked Ltd' }), 404, 'update private contact');
    await expectError(mona.collection('contacts').delete(id), 404, 'delete private contact');
    const still = await andy.collection('contacts').getOne(id);
    assert.equal(still.company, andyPrivateContact.company);
    assert.equal(still.updated, andyPrivateContact.updated);
  });

  await t.test('moving a Shared contact into it is refused', async () => {
    const c = await mona.collection('contacts').create(newContact(ws.Shared));
    const err = await mona.collection('contacts').update(c.id, { workspace: priv() }).then(
      (r) => assert.fail(`the move succeeded: ${JSON.stringify(r)}`),
      (e) => e,
    );
    assert.ok(err instanceof ClientResponseError && [400, 404].includes(err.status), `unexpected ${err}`);
    assert.equal((await andy.collection('contacts').getOne(c.id)).workspace, ws.Shared);
  });
});

test('batch API: one forbidden request fails the whole batch', async () => {
  const priv = ws["Andy's workspace"];
  const beforePriv = await countContacts(andy, priv);
  const beforeShared = await countContacts(andy, ws.Shared);

  // control: a batch Monalisa may send goes through
  const okBatch = mona.createBatch();
  okBatch.collection('contacts').create(newContact(ws.Shared));
  const okRes = await okBatch.send();
  assert.equal(okRes.length, 1);
  assert.equal(okRes[0].status, 200);
  assert.equal(await countContacts(andy, ws.Shared), beforeShared + 1);

  const batch = mona.createBatch();
  const allowed = newContact(ws.Shared);
  const forbidden = newContact(priv);
  batch.collection('contacts').create(allowed);
  batch.collection('contacts').create(forbidden);
  const err = await expectError(batch.send(), 400, 'batch with a create in a private workspace');
  // PocketBase names the failed request of the batch
  assert.ok(err.response?.data?.requests?.['1'], `the error does not point at request 1: ${JSON.stringify(err.response)}`);

  assert.equal(await countContacts(andy, priv), beforePriv, "a contact was created in Andy's private workspace");
  assert.equal(await countContacts(andy, ws.Shared), beforeShared + 1, 'the batch was not rolled back');
  for (const d of [allowed, forbidden]) {
    const found = await andy.collection('contacts').getList(1, 1, { filter: `primary_email = "${d.primary_email}"` });
    assert.equal(found.totalItems, 0, `${d.primary_email} exists`);
  }
});

test('realtime: Monalisa gets Shared events, never private ones', async () => {
  const priv = ws["Andy's workspace"];
  const monaEvents = [];
  const andyEvents = [];
  const unsubMona = await mona.collection('contacts').subscribe('*', (e) => monaEvents.push(e));
  const unsubAndy = await andy.collection('contacts').subscribe('*', (e) => andyEvents.push(e));
  try {
    const p = await andy.collection('contacts').create(newContact(priv));
    const s = await andy.collection('contacts').create(newContact(ws.Shared));

    await waitFor(() => monaEvents.some((e) => e.record?.id === s.id), 5000, "Monalisa's event for the Shared contact");
    // control: the private create did produce an event, for Andy
    await waitFor(() => andyEvents.some((e) => e.record?.id === p.id), 5000, "Andy's event for the private contact");
    await sleep(QUIET_MS);

    const shared = monaEvents.find((e) => e.record?.id === s.id);
    assert.equal(shared.action, 'create');
    assert.equal(shared.record.workspace, ws.Shared);
    assert.ok(!monaEvents.some((e) => e.record?.id === p.id), 'Monalisa received the private contact');
    assert.ok(!monaEvents.some((e) => e.record?.workspace === priv), 'Monalisa received an event of a private record');

    // an update and a delete in the private workspace stay private too
    await andy.collection('contacts').update(p.id, { company: 'Private Co' });
    await andy.collection('contacts').delete(p.id);
    await waitFor(() => andyEvents.some((e) => e.record?.id === p.id && e.action === 'delete'), 5000, "Andy's delete event");
    await sleep(QUIET_MS);
    assert.ok(!monaEvents.some((e) => e.record?.id === p.id), 'Monalisa received an update/delete of the private contact');
  } finally {
    await unsubMona();
    await unsubAndy();
  }
  assert.equal(mona.realtime.isConnected, false, 'the realtime connection is still open after unsubscribing');
});

test('filter side channels are closed', async (t) => {
  await t.test('@collection in a workspaces filter is forbidden', async () => {
    const err = await expectError(
      mona.collection('workspaces').getList(1, 50, { filter: '@collection.contacts.first_name ?= "Ada"' }),
      400,
      '@collection filter',
    );
    assert.equal(err.response?.data?.code, 'filter_forbidden');
  });

  await t.test('@collection in a sort is forbidden', async () => {
    const err = await expectError(
      mona.collection('workspaces').getList(1, 50, { sort: '@collection.contacts.first_name' }),
      400,
      '@collection sort',
    );
    assert.equal(err.response?.data?.code, 'filter_forbidden');
  });

  await t.test('a back-relation out of users is forbidden', async () => {
    const err = await expectError(
      mona.collection('users').getList(1, 50, { filter: `workspaces_via_owner.name ?= "Andy's workspace"` }),
      400,
      'workspaces_via_owner filter',
    );
    assert.equal(err.response?.data?.code, 'filter_forbidden');
  });

  // PocketBase resolves collection names case-insensitively, so a back-relation
  // may be spelled in other cases; whatever answers, nothing private may leak.
  await t.test('case variants of a back-relation fail or leak nothing', async () => {
    for (const rel of ['workspaces_via_owner', 'WORKSPACES_via_owner', 'Workspaces_via_owner']) {
      await expectRefusedOrEmpty(
        mona.collection('users').getList(1, 50, { filter: `${rel}.name ?= "Andy's workspace"` }),
        `users filtered by ${rel}`,
      );
    }
  });

  await t.test("a chain through the owner's back-relations finds no private contact", async () => {
    // a first name only Andy's private workspace has (control: Andy sees it there, and not in Shared)
    const names = async (w) =>
      new Set((await andy.collection('contacts').getFullList({ filter: byWorkspace(w), fields: 'first_name' })).map((c) => c.first_name));
    const shared = await names(ws.Shared);
    const secret = [...(await names(ws["Andy's workspace"]))].find((n) => n && !shared.has(n));
    assert.ok(secret, "no first name is unique to Andy's private workspace in the demo data");
    for (const rel of ['workspaces_via_owner', 'Workspaces_via_owner']) {
      await expectRefusedOrEmpty(
        mona.collection('contacts').getList(1, 50, {
          filter: `workspace = "${ws.Shared}" && workspace.owner.${rel}.contacts_via_workspace.first_name ?= "${secret}"`,
        }),
        `Shared contacts filtered through ${rel}`,
      );
    }
  });

  await t.test('a forbidden filter in a realtime subscription is refused', async () => {
    const pb = await loginAgainAs(mona);
    let threw = null;
    try {
      await pb.collection('contacts').subscribe('*', () => {}, { filter: '@collection.contacts.first_name ?= "Ada"' });
    } catch (err) {
      threw = err;
    } finally {
      await pb.realtime.unsubscribe().catch(() => {});
    }
    assert.ok(threw instanceof ClientResponseError, `subscription accepted: ${threw}`);
    assert.equal(threw.status, 400);
    assert.equal(threw.response?.data?.code, 'filter_forbidden');
  });

  await t.test('workspace.owner.email ~ "andy" on contacts returns Shared contacts only', async () => {
    const filter = 'workspace.owner.email ~ "andy"';
    const monaHits = await mona.collection('contacts').getFullList({ filter, fields: 'id,workspace' });
    assert.ok(monaHits.length > 0, 'control: Shared contacts match');
    assert.deepEqual([...new Set(monaHits.map((c) => c.workspace))], [ws.Shared]);
    assert.equal(monaHits.length, await countContacts(mona, ws.Shared));
    // control: the same filter does reach the private contacts for Andy
    const andyHits = await andy.collection('contacts').getFullList({ filter, fields: 'id,workspace' });
    assert.ok(andyHits.some((c) => c.workspace === ws["Andy's workspace"]));
  });
});

// loginAgainAs gives a second client with the same auth (no new password
// login: the auth endpoints are rate limited).
async function loginAgainAs(pb) {
  const other = client();
  other.authStore.save(pb.authStore.token, pb.authStore.record);
  return other;
}

// keyClient is a JS SDK client that authenticates every request with an API key.
function keyClient(key) {
  const pb = client();
  pb.beforeSend = (url, options) => {
    options.headers = { ...options.headers, 'X-Api-Key': key };
    return { url, options };
  };
  return pb;
}

async function createKey(pb, body) {
  return pb.send('/api/crm/api-keys', { method: 'POST', body: { description: `${tag} key`, ...body } });
}

// every record in a JSON value, at any depth of expand
function recordsIn(value, out = []) {
  if (Array.isArray(value)) value.forEach((v) => recordsIn(v, out));
  else if (value && typeof value === 'object') {
    if (value.collectionName && value.id) out.push(value);
    Object.values(value).forEach((v) => recordsIn(v, out));
  }
  return out;
}

test("API keys: expand and minted keys obey the key's scopes and workspace", async (t) => {
  await t.test('a templates:read key restricted to Shared expands no contact', async () => {
    const { key } = await createKey(andy, { scopes: ['templates:read'], workspace: ws.Shared });
    const pb = keyClient(key);
    const workspaces = await pb.collection('workspaces').getFullList({ expand: 'contacts_via_workspace' });
    assert.deepEqual(workspaces.map((w) => w.id), [ws.Shared], 'the key lists only its workspace');
    const users = await pb.collection('users').getFullList({ expand: 'workspace_members_via_user.workspace.contacts_via_workspace' });
    const leaked = recordsIn([workspaces, users]).filter((r) => r.collectionName === 'contacts');
    assert.equal(leaked.length, 0, `contacts came back through expand: ${leaked.map((r) => r.id)}`);
    // control: Andy himself does get contacts through the same expand
    const own = await andy.collection('workspaces').getFullList({ expand: 'contacts_via_workspace' });
    assert.ok(recordsIn(own).some((r) => r.collectionName === 'contacts'), 'control: expand works for a session');
  });

  await t.test('a contacts:read key restricted to Shared expands no private contact', async () => {
    const { key } = await createKey(andy, { scopes: ['contacts:read'], workspace: ws.Shared });
    const me = await keyClient(key).send('/api/crm/me', {});
    const user = await keyClient(key).collection('users').getOne(me.user.id, { expand: 'workspaces_via_owner.contacts_via_workspace' });
    const contacts = recordsIn(user).filter((r) => r.collectionName === 'contacts');
    assert.ok(contacts.length > 0, 'control: Shared contacts come back');
    assert.ok(contacts.every((c) => c.workspace === ws.Shared), 'a contact of another workspace came back');
  });

  await t.test('a restricted, expiring admin key mints no stronger key', async () => {
    const { key, record: parent } = await createKey(andy, { scopes: ['admin'], workspace: ws.Shared, expires_in_days: 1 });
    const pb = keyClient(key);
    const { record: child } = await createKey(pb, { scopes: ['contacts:read'] });
    assert.equal(child.workspace, ws.Shared, 'the child is restricted to the parent workspace');
    assert.equal(child.expires_at, parent.expires_at, 'the child expires with the parent');
    const err = await expectError(createKey(pb, { scopes: ['admin'], workspace: ws["Andy's workspace"] }), 403, 'a key for another workspace');
    assert.equal(err.response?.data?.code, 'api_key_exceeds_parent');
    await expectError(createKey(pb, { scopes: ['admin'], expires_in_days: 30 }), 403, 'a longer-lived key');
  });
});

test('invitations: the invite answers alike for any email; the invitee sees it, no one joins uninvited', async () => {
  const invite = (email) =>
    mona.send(`/api/crm/workspaces/${ws["Monalisa's workspace"]}/members`, { method: 'POST', body: { email, role: 'viewer' } });
  const known = await invite(ANDY); // Andy has an account (and the demo's pending invitation)
  const unknown = await invite(`${tag}.nobody@example.org`);
  assert.deepEqual({ ...known, email: '' }, { ...unknown, email: '' }, 'the answers differ beyond the email');
  assert.equal(known.status, 'invited');

  const mine = await andy.send('/api/crm/invitations', {});
  const items = mine.items;
  assert.ok(items.some((i) => i.workspace === ws["Monalisa's workspace"] || i.workspace?.id === ws["Monalisa's workspace"]),
    `Andy does not see the invitation: ${JSON.stringify(mine).slice(0, 300)}`);
  const viaCollection = await andy.collection('workspace_invitations').getFullList();
  assert.ok(viaCollection.some((i) => i.workspace === ws["Monalisa's workspace"] && i.status === 'pending'));
  // not a member until he accepts
  const andysWorkspaces = await andy.collection('workspaces').getFullList();
  assert.ok(!andysWorkspaces.some((w) => w.id === ws["Monalisa's workspace"]), 'Andy became a member without accepting');
});
