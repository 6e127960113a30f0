// A recording cut by the server's end (killed mid-write, or the machine
// losing power) ends anywhere in its last line, or with zeros where the
// file system had not written its data yet: the player (parseCast) plays
// every whole line before the cut and never fails on what follows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCast } from '../src/pages/cast.js';

const header = '{"version":2,"width":80,"height":24,"timestamp":1,"env":{"TERM":"xterm-256color"}}\n';
const whole = ['[0.5,"o","$ "]\n', '[1.25,"o","echo h\\u00e9\\r\\n"]\n'];
const last = '[2.5,"o","h\u00e9 \u2603 \ud83d\ude00\\r\\n$ "]';
const enc = new TextEncoder();
const dec = new TextDecoder(); // replaces a cut UTF-8 sequence with U+FFFD, as the page's fetch does

test('parseCast plays up to a recording cut at every byte of its last line', () => {
  const before = enc.encode(header + whole.join(''));
  const frame = enc.encode(last);
  const want = whole.map((l) => JSON.parse(l));
  for (let cut = 0; cut <= frame.length; cut++) {
    const bytes = new Uint8Array(before.length + cut);
    bytes.set(before);
    bytes.set(frame.subarray(0, cut), before.length);
    const { header: h, events } = parseCast(dec.decode(bytes));
    assert.equal(h.width, 80, `cut at ${cut}`);
    const w = cut === frame.length ? [...want, JSON.parse(last)] : want;
    assert.deepEqual(events, w, `cut at byte ${cut} of ${frame.length}`);
  }
});

test('parseCast skips the zeros a power loss leaves at a recording end', () => {
  for (const tail of ['\0', '\0'.repeat(4096), '[3,"o","x' + '\0'.repeat(100), '\n\0\0\n\0']) {
    const { events } = parseCast(header + whole.join('') + tail);
    assert.deepEqual(events, whole.map((l) => JSON.parse(l)), JSON.stringify(tail.slice(0, 12)));
  }
});

test('parseCast of a recording cut within its header fails with InvalidRecording', () => {
  const bytes = enc.encode(header);
  for (let cut = 0; cut < bytes.length - 1; cut++) {
    assert.throws(() => parseCast(dec.decode(bytes.subarray(0, cut))), (e) => e.code === 'InvalidRecording', `cut at ${cut}`);
  }
});
