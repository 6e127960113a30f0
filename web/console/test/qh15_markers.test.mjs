// Unit tests of the recordings player's markers ("m" events).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCast, markerLabel } from '../src/pages/cast.js';

test('parseCast keeps marker events', () => {
  const { events } = parseCast('{"version":2,"width":80,"height":24}\n[0.5,"o","hi"]\n[1.25,"m","Postern: recording stopped"]\n');
  assert.deepEqual(events, [[0.5, 'o', 'hi'], [1.25, 'm', 'Postern: recording stopped']]);
});

test('markerLabel strips control characters', () => {
  const cases = [
    { name: 'plain', in: 'Postern: input not delivered', want: 'Postern: input not delivered' },
    { name: 'escape sequences', in: '\x1b[2J\x1b]0;title\x07cut', want: '[2J]0;titlecut' },
    { name: 'newlines and tabs', in: 'a\r\nb\tc', want: 'abc' },
    { name: 'DEL and C1', in: 'a\x7fb\x9bc\x85d', want: 'abcd' },
    { name: 'non-ASCII kept', in: 'é€😀', want: 'é€😀' },
    { name: 'not a string', in: 42, want: '42' },
  ];
  for (const c of cases) assert.equal(markerLabel(c.in), c.want, c.name);
});
