// A terminal emulator (xterm.js) that fills its container and follows its
// size; copy and paste with Ctrl+Shift+C / Ctrl+Shift+V (Cmd+C / Cmd+V on a
// Mac), the browser's clipboard and xterm's selection.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { toast } from './dom.js';

const THEME = {
  background: '#0f1419', foreground: '#e6e6e6', cursor: '#f0c674', cursorAccent: '#0f1419',
  selectionBackground: '#3d5a80aa',
  black: '#1d1f21', red: '#e06c75', green: '#98c379', yellow: '#e5c07b', blue: '#61afef', magenta: '#c678dd', cyan: '#56b6c2', white: '#dcdfe4',
  brightBlack: '#5c6370', brightRed: '#ef8891', brightGreen: '#b5e08f', brightYellow: '#f0d58c', brightBlue: '#82c1f5', brightMagenta: '#d89ae8', brightCyan: '#7fcfd9', brightWhite: '#ffffff',
};

export function createTerminal(container, { readOnly = false, fit = true } = {}) {
  const term = new Terminal({
    fontFamily: 'ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
    fontSize: 14,
    lineHeight: 1.15,
    cursorBlink: !readOnly,
    disableStdin: readOnly,
    scrollback: 5000,
    allowProposedApi: false,
    theme: THEME,
    rightClickSelectsWord: false,
  });
  const fitter = new FitAddon();
  term.loadAddon(fitter);
  term.open(container);
  const isMac = /Mac|iPhone|iPad/.test(navigator.platform || '');
  term.attachCustomKeyEventHandler((e) => {
    if (e.type !== 'keydown') return true;
    const mod = isMac ? e.metaKey : e.ctrlKey && e.shiftKey;
    if (mod && (e.key === 'C' || e.key === 'c')) {
      copySelection(term);
      e.preventDefault();
      return false;
    }
    if (mod && (e.key === 'V' || e.key === 'v')) {
      if (!readOnly) pasteClipboard(term);
      e.preventDefault();
      return false;
    }
    return true;
  });
  let ro = null;
  if (fit) {
    const refit = () => {
      if (container.clientWidth > 0 && container.clientHeight > 0) {
        try { fitter.fit(); } catch { /* not laid out yet */ }
      }
    };
    ro = new ResizeObserver(() => refit());
    ro.observe(container);
    refit();
  }
  return {
    term,
    fit: () => { try { fitter.fit(); } catch { /* not laid out */ } },
    dispose: () => {
      if (ro) ro.disconnect();
      term.dispose();
    },
  };
}

export async function copySelection(term) {
  const text = term.getSelection();
  if (!text) {
    toast('Select text in the terminal first.');
    return;
  }
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied.');
  } catch {
    toast('The browser did not allow copying.');
  }
}

export async function pasteClipboard(term) {
  try {
    const text = await navigator.clipboard.readText();
    if (text) term.paste(text);
  } catch {
    toast('The browser did not allow reading the clipboard; use its paste (Ctrl+V or the context menu).');
  }
}
