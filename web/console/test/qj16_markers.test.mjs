// Unit tests of markerLabel's Unicode bidirectional controls (s16 QJ): a
// marker's label must read as it is stored, so the controls that reorder
// text are stripped as the C0 and C1 controls are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markerLabel } from '../src/pages/cast.js';

test('markerLabel strips Unicode bidirectional controls', () => {
  const cases = [
    { name: 'LRE PDF (embedding)', in: 'a\u202ab\u202cc', want: 'abc' },
    { name: 'RLE', in: 'a\u202bb', want: 'ab' },
    { name: 'LRO', in: 'a\u202db', want: 'ab' },
    { name: 'RLO reverses what follows', in: 'input \u202eton\u202c delivered', want: 'input ton delivered' },
    { name: 'LRI RLI FSI PDI (isolates)', in: '\u2066a\u2067b\u2068c\u2069d', want: 'abcd' },
    { name: 'LRM RLM', in: 'a\u200eb\u200fc', want: 'abc' },
    { name: 'ALM', in: 'a\u061cb', want: 'ab' },
    { name: 'every one at once', in: '\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c', want: '' },
    { name: 'bidi and C0 together', in: '\u202e\x1b[2Jx', want: '[2Jx' },
    // Right-to-left text itself stays: only the invisible controls go.
    { name: 'Arabic and Hebrew kept', in: 'مرحبا שלום', want: 'مرحبا שלום' },
    { name: 'neighbours kept', in: '\u200d\u2060\u2070\u061b\u061d', want: '\u200d\u2060\u2070\u061b\u061d' },
  ];
  for (const c of cases) assert.equal(markerLabel(c.in), c.want, c.name);
});
