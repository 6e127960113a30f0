// Builds the console page into internal/server/console/ui/dist (or the
// directory given with --out): index.html, app.js, app.css. The output is
// byte-for-byte reproducible: no timestamps, fixed file names, and each
// asset referenced from index.html with ?v=<sha256 of its content> so a
// browser never runs a stale asset (index.html itself is served no-store).
//
// xterm.js styles its DOM renderer with <style> elements and
// setAttribute("style"), which a strict Content-Security-Policy
// (style-src 'self') refuses. The plugin below rewrites those few places
// to go through CSSOM (constructable style sheets, element.style), which
// the policy allows; the build fails if xterm's code no longer has them.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let out = resolve(here, '../../internal/server/console/ui/dist');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out' && i + 1 < args.length) out = resolve(args[++i]);
  else throw new Error(`build.mjs: unknown argument ${args[i]}`);
}

const xtermCSP = {
  name: 'xterm-csp',
  setup(build) {
    build.onLoad({ filter: /@xterm[\\/]xterm[\\/]lib[\\/]xterm\.mjs$/ }, (a) => {
      let src = readFileSync(a.path, 'utf8');
      let styles = 0;
      src = src.replace(/([\w$.]+)\.createElement\("style"\)/g, (_, doc) => {
        styles++;
        return `globalThis.__posternStyleElement(${doc})`;
      });
      const addStyle = '_addStyle(t,e){t.setAttribute("style",`${t.getAttribute("style")||""}${e};`)}';
      const attrs = src.split(addStyle).length - 1;
      src = src.replace(addStyle, '_addStyle(t,e){t.style.cssText+=e+";"}');
      if (styles !== 3 || attrs !== 1 || /setAttribute\("style"/.test(src)) {
        throw new Error(`xterm-csp: xterm.js changed (style elements ${styles}, style attributes ${attrs}); update build.mjs`);
      }
      return { contents: src, loader: 'js' };
    });
  },
};

const common = {
  bundle: true,
  minify: true,
  write: false,
  legalComments: 'eof',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  logLevel: 'warning',
  absWorkingDir: here,
};

const js = await esbuild.build({
  ...common,
  entryPoints: ['src/main.js'],
  format: 'esm',
  outfile: 'app.js',
  plugins: [xtermCSP],
});
const css = await esbuild.build({
  ...common,
  entryPoints: ['src/app.css'],
  outfile: 'app.css',
  loader: { '.css': 'css' },
});

const files = new Map();
files.set('app.js', js.outputFiles[0].contents);
files.set('app.css', css.outputFiles[0].contents);
files.set('favicon.svg', readFileSync(join(here, 'src/favicon.svg')));
const v = (name) => createHash('sha256').update(files.get(name)).digest('hex').slice(0, 16);
const html = readFileSync(join(here, 'src/index.html'), 'utf8')
  .replace('{{app.css}}', `app.css?v=${v('app.css')}`)
  .replace('{{app.js}}', `app.js?v=${v('app.js')}`)
  .replace('{{favicon.svg}}', `favicon.svg?v=${v('favicon.svg')}`);
files.set('index.html', Buffer.from(html));

mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) {
  if (!files.has(f)) rmSync(join(out, f), { recursive: true, force: true });
}
for (const [name, data] of files) writeFileSync(join(out, name), data);
