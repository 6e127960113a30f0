// A read that fails at the network level (fetch rejects with a TypeError,
// as Chromium does with ERR_NETWORK_CHANGED for every request still
// connecting when the machine's network changes) is sent again a bounded
// number of times; a write is never repeated. node --test; fetch stubbed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSession, signOut, currentSession } from '../src/api.js';

const notSignedIn = () => new Response(JSON.stringify({ Code: 'NotSignedIn', Message: 'Sign in.' }), { status: 401 });
const signedIn = () => new Response(JSON.stringify({ arn: 'arn:aws:iam::123456789012:user/alice', csrfToken: 't' }), { status: 200 });
const networkError = () => { throw new TypeError('Failed to fetch'); };
const aborted = () => { throw new DOMException('The operation was aborted.', 'AbortError'); };

// stub replaces fetch with answers, one per call (the last one repeats),
// and counts the calls.
function stub(answers) {
  const calls = [];
  globalThis.fetch = async (path, init) => {
    calls.push(`${init.method} ${path}`);
    return answers[Math.min(calls.length, answers.length) - 1]();
  };
  return calls;
}

test('loadSession survives network-level failures of its GET, a bounded number of times', async (t) => {
  const realFetch = globalThis.fetch;
  t.after(() => { globalThis.fetch = realFetch; });
  const cases = [
    { name: 'one failure, then signed out', answers: [networkError, notSignedIn], want: null, calls: 2 },
    { name: 'two failures, then signed in', answers: [networkError, networkError, signedIn], want: 'arn:aws:iam::123456789012:user/alice', calls: 3 },
    { name: 'the server stays unreachable', answers: [networkError], wantCode: 'NetworkError', calls: 3 },
    { name: 'an abort is not a network failure', answers: [aborted, signedIn], wantCode: 'NetworkError', calls: 1 },
  ];
  for (const c of cases) {
    const calls = stub(c.answers);
    let got;
    let err;
    try {
      got = await loadSession();
    } catch (e) {
      err = e;
    }
    if (c.wantCode) {
      assert.equal(err && err.code, c.wantCode, `${c.name}: error ${err}`);
    } else {
      assert.equal(err, undefined, `${c.name}: ${err}`);
      assert.equal(got ? got.arn : got, c.want, c.name);
    }
    assert.equal(calls.length, c.calls, `${c.name}: calls ${calls.join(', ')}`);
    assert.ok(calls.every((x) => x === 'GET /console/api/session'), `${c.name}: calls ${calls.join(', ')}`);
  }
});

test('a POST that fails at the network level is not sent again', async (t) => {
  const realFetch = globalThis.fetch;
  t.after(() => { globalThis.fetch = realFetch; });
  const calls = stub([networkError, notSignedIn]);
  await assert.rejects(signOut(), (e) => e.code === 'NetworkError');
  assert.deepEqual(calls, ['POST /console/api/signout']);
  assert.equal(currentSession(), null);
});
