// The console builds its DOM with createElement and text (dom.js's h):
// nothing the server or an instance sends may reach an HTML parser. This
// guards the page's sources (s16 R3: the terminal's new notices and end
// banner lines are text) against an HTML sink creeping in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const src = new URL('../src/', import.meta.url).pathname;

function jsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? jsFiles(join(dir, d.name)) : d.name.endsWith('.js') ? [join(dir, d.name)] : []);
}

test('no HTML sinks in the console sources', () => {
  const sinks = /\b(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|createContextualFragment|\bsrcdoc\b|'text\/html'|"text\/html"/;
  const found = [];
  const files = jsFiles(src);
  assert.ok(files.some((f) => f.endsWith('terminal.js')), `terminal.js under ${src}`);
  for (const f of files) {
    readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      if (sinks.test(line)) found.push(`${f.slice(src.length)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});
