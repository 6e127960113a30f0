// Review tests of markerLabel (s16 R3): checked against Unicode's own
// property, not a hand list: every Bidi_Control code point goes, every
// code point outside the controls stays, astral characters whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markerLabel } from '../src/pages/cast.js';

const bidiControl = /\p{Bidi_Control}/u;
const control = /[\u0000-\u001f\u007f-\u009f]/;

test('markerLabel strips exactly the Bidi_Control code points (and controls)', () => {
  const stripped = [];
  const wrong = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue; // lone surrogates: below
    const ch = String.fromCodePoint(cp);
    const got = markerLabel(`a${ch}b`);
    const gone = bidiControl.test(ch) || control.test(ch);
    if (gone && bidiControl.test(ch)) stripped.push(cp);
    if (got !== (gone ? 'ab' : `a${ch}b`)) wrong.push(cp.toString(16));
  }
  assert.deepEqual(wrong, [], 'code points handled wrong (hex)');
  // The 12 that UAX #9 names: LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM ALM.
  assert.deepEqual(stripped.map((c) => c.toString(16)).sort(),
    ['202a', '202b', '202c', '202d', '202e', '2066', '2067', '2068', '2069', '200e', '200f', '61c'].sort());
});

test('markerLabel keeps right-to-left text, surrogate pairs and lone surrogates', () => {
  const cases = [
    { name: 'Hebrew with a bidi override inside', in: 'שלום\u202eעולם', want: 'שלוםעולם' },
    { name: 'Arabic with ALM and RLM', in: 'م\u061cر\u200fحبا', want: 'مرحبا' },
    { name: 'emoji (surrogate pair) around controls', in: '\u{1f600}\u2066\u{1f600}\u2069', want: '\u{1f600}\u{1f600}' },
    { name: 'Adlam (RTL, astral)', in: '\u{1e900}\u{1e901}', want: '\u{1e900}\u{1e901}' },
    { name: 'lone high surrogate kept as it is', in: 'a\ud83d\u202eb', want: 'a\ud83db' },
    { name: 'non-string label', in: 42, want: '42' },
  ];
  for (const c of cases) assert.equal(markerLabel(c.in), c.want, c.name);
});
