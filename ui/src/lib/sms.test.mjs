// Unit tests of the client-side SMS counter (sms.js) at the boundaries the
// server's rule draws. Run by e2e/tests/sms.test.mjs (make test-js), or alone:
//   node --test ui/src/lib/sms.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segments } from './sms.js';

const gsm = (n) => 'a'.repeat(n);
const ucs = (n) => 'ж'.repeat(n);

test('GSM-7: 159, 160 characters are one segment, 161 are two', () => {
  assert.deepEqual(segments(gsm(159)), { encoding: 'GSM-7', characters: 159, segments: 1 });
  assert.deepEqual(segments(gsm(160)), { encoding: 'GSM-7', characters: 160, segments: 1 });
  assert.deepEqual(segments(gsm(161)), { encoding: 'GSM-7', characters: 161, segments: 2 });
});

test('GSM-7 multipart: 153×2 is two segments, 153×2+1 is three', () => {
  assert.deepEqual(segments(gsm(306)), { encoding: 'GSM-7', characters: 306, segments: 2 });
  assert.deepEqual(segments(gsm(307)), { encoding: 'GSM-7', characters: 307, segments: 3 });
});

test('UCS-2: 70 characters are one segment, 71 are two; 67×2+1 are three', () => {
  assert.deepEqual(segments(ucs(70)), { encoding: 'UCS-2', characters: 70, segments: 1 });
  assert.deepEqual(segments(ucs(71)), { encoding: 'UCS-2', characters: 71, segments: 2 });
  assert.deepEqual(segments(ucs(134)), { encoding: 'UCS-2', characters: 134, segments: 2 });
  assert.deepEqual(segments(ucs(135)), { encoding: 'UCS-2', characters: 135, segments: 3 });
});

test('an extension character (€) counts two and stays GSM-7', () => {
  assert.deepEqual(segments('€'), { encoding: 'GSM-7', characters: 2, segments: 1 });
  assert.deepEqual(segments(gsm(158) + '€'), { encoding: 'GSM-7', characters: 160, segments: 1 });
  assert.deepEqual(segments(gsm(159) + '€'), { encoding: 'GSM-7', characters: 161, segments: 2 });
  for (const ch of '[]{}^~\\|\f') assert.equal(segments(ch).characters, 2, JSON.stringify(ch));
});

test('an emoji switches to UCS-2 and counts two code units', () => {
  assert.deepEqual(segments('😀'), { encoding: 'UCS-2', characters: 2, segments: 1 });
  assert.deepEqual(segments(gsm(68) + '😀'), { encoding: 'UCS-2', characters: 70, segments: 1 });
  assert.deepEqual(segments(gsm(69) + '😀'), { encoding: 'UCS-2', characters: 71, segments: 2 });
  // in UCS-2 an extension character is one unit like any other
  assert.deepEqual(segments('€😀'), { encoding: 'UCS-2', characters: 3, segments: 1 });
});

test('the GSM-7 basic set: accents it holds stay GSM-7, others do not', () => {
  assert.equal(segments('Café @ £5 — ok').encoding, 'UCS-2'); // the em dash is not GSM-7
  assert.equal(segments('Café @ £5, Ñandú ¿sí? ÄÖÜ äöü §').encoding, 'UCS-2'); // í and ú are not in the basic set
  assert.deepEqual(segments('Hé @ £5 ÄÖÜ äöü § ¿?'), { encoding: 'GSM-7', characters: 20, segments: 1 });
  assert.deepEqual(segments(''), { encoding: 'GSM-7', characters: 0, segments: 0 });
});
