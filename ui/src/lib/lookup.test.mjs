// Unit tests of the provider form's look-up line (lookup.js). Run alone:
//   node --test ui/src/lib/lookup.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupLine } from './lookup.js';

test('no_read_permission warns and names the permission the server gave', () => {
  const l = lookupLine({ lookup: 'no_read_permission', lookup_detail: 'add Mail.ReadBasic.All' });
  assert.equal(l.kind, 'warn');
  assert.match(l.text, /can send but not read/);
  assert.match(l.text, /add Mail\.ReadBasic\.All$/);
});

test('ok, unsupported, failed and nothing', () => {
  assert.equal(lookupLine({ lookup: 'ok' }).kind, 'ok');
  assert.equal(lookupLine({ lookup: 'unsupported' }).kind, 'muted');
  assert.match(lookupLine({ lookup: 'failed', lookup_detail: 'timeout' }).text, /timeout$/);
  assert.equal(lookupLine({}), null);
  assert.equal(lookupLine(null), null);
});
