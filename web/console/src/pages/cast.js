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
