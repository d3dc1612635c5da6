// Assertions the SDK tests share.
import assert from 'node:assert/strict';
import { ClientResponseError } from 'pocketbase';

// expectError awaits p, asserts it rejected with a ClientResponseError of the
// given status (or one of several) and, when code is given, that data.code;
// returns the error.
export async function expectError(p, status, what, code) {
  let result;
  try {
    result = await p;
  } catch (err) {
    assert.ok(err instanceof ClientResponseError, `${what}: expected a ClientResponseError, got ${err}`);
    const want = [].concat(status);
    assert.ok(want.includes(err.status), `${what}: status ${err.status}, want ${want} (${JSON.stringify(err.response)})`);
    if (code !== undefined) assert.equal(err.response?.data?.code, code, `${what}: ${JSON.stringify(err.response)}`);
    return err;
  }
  assert.fail(`${what}: expected an error ${status}${code ? ' ' + code : ''}, but it succeeded: ${JSON.stringify(result).slice(0, 300)}`);
}
