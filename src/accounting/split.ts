// Cutting a long text into slices whose token counts add up to the whole text's count.
//
// BPE works inside the pre-tokens that the encoding's regex splits text into, so a cut that falls on
// a pre-token boundary changes nothing. In cl100k_base, o200k_base and o200k_harmony no pre-token
// spans a letter followed by a space followed by a letter ("a| b": a word run cannot take a space,
// and a run that starts with a space starts there), nor a line break followed by a letter ("\n|b":
// the optional one-character prefix of a word run excludes \r and \n). Those are the only cuts made;
// text with neither (long runs of CJK or base64) stays in one slice.

const LETTER = /\p{L}/u;

function isLetterAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 128) return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  // Surrogate halves are not letters on their own, so a cut never lands inside a pair.
  return LETTER.test(text[i] as string);
}

/** A safe cut at or before `near` (and after `from`), or -1. */
function cutBefore(text: string, from: number, near: number): number {
  for (let i = near; i > from + 1; i--) {
    const c = text.charCodeAt(i);
    if (c === 32 && i + 1 < text.length && isLetterAt(text, i - 1) && isLetterAt(text, i + 1)) return i;
    if (c !== 10 && text.charCodeAt(i - 1) === 10 && isLetterAt(text, i)) return i;
  }
  return -1;
}

/** Slices of about `size` characters (never cut elsewhere than at a safe boundary). */
export function splitForCounting(text: string, size: number): string[] {
  if (text.length <= size) return [text];
  const out: string[] = [];
  let start = 0;
  while (text.length - start > size) {
    let cut = cutBefore(text, start, start + size);
    if (cut === -1) {
      // No boundary in this window: look further ahead rather than cut unsafely.
      const ahead = cutAfter(text, start + size);
      if (ahead === -1) break;
      cut = ahead;
    }
    out.push(text.slice(start, cut));
    start = cut;
  }
  out.push(text.slice(start));
  return out;
}

function cutAfter(text: string, from: number): number {
  for (let i = from; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 && isLetterAt(text, i - 1) && isLetterAt(text, i + 1)) return i;
    if (c !== 10 && text.charCodeAt(i - 1) === 10 && isLetterAt(text, i)) return i;
  }
  return -1;
}
