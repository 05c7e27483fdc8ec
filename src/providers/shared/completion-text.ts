// The generated text a translator keeps for the gateway's own output count. Bounded per response: a
// long stream (to a client that reads slowly, or never) must not pile up in memory, so past the
// bound only characters are counted, and the count adds them at ≈4 characters per token.

/** Characters of generated text kept per response for exact counting. */
export const MAX_KEPT_COMPLETION_CHARS = 256 * 1024;

export interface CompletionResult {
  readonly completionText: string;
  /** Characters past MAX_KEPT_COMPLETION_CHARS, counted but not kept. */
  readonly completionOverflowChars: number;
}

export class CompletionText {
  private readonly pieces: string[] = [];
  private kept = 0;
  private overflow = 0;

  push(...texts: string[]): void {
    for (const t of texts) {
      if (this.kept + t.length <= MAX_KEPT_COMPLETION_CHARS) {
        this.pieces.push(t);
        this.kept += t.length;
      } else this.overflow += t.length;
    }
  }

  result(): CompletionResult {
    return { completionText: this.pieces.join(''), completionOverflowChars: this.overflow };
  }
}
