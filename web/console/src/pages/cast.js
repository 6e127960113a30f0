// asciicast v2 parsing, for the recordings player (and its unit test).
import { ApiError } from '../api.js';

/** Parses asciicast v2: a header line, then [time, code, data] lines. */
export function parseCast(text) {
  const lines = text.split('\n').filter((l) => l.trim());
  if (!lines.length) throw new ApiError('InvalidRecording', 'The recording is empty.');
  let header;
  try { header = JSON.parse(lines[0]); } catch { throw new ApiError('InvalidRecording', 'The recording has no asciicast header.'); }
  const events = [];
  for (const l of lines.slice(1)) {
    try {
      const e = JSON.parse(l);
      if (Array.isArray(e) && e.length >= 3) events.push([Number(e[0]) || 0, e[1], String(e[2])]);
    } catch { /* a torn last line of a live recording */ }
  }
  return { header, events };
}

/** The label of a marker ("m" event: a recording cut at its size cap,
 * input that did not reach the instance) as the console shows it: as
 * text, without control characters (C0, DEL, C1), so that a label can
 * neither move the cursor nor change what else is shown; and without
 * Unicode's bidirectional controls (embeddings and overrides U+202A–U+202E,
 * isolates U+2066–U+2069, the marks U+200E, U+200F and U+061C), which
 * would reorder how the label reads (a label that shows a different text
 * than it holds) and, unclosed, the text after it. */
export function markerLabel(label) {
  return String(label).replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '');
}
