// The injected credential never reaches a client, also not inside a successful (streamed) body an
// upstream echoes it in. Bytes pass through as they come; only when a chunk ends with the beginning
// of a secret are those few bytes held until the next chunk shows whether the secret follows. Every
// byte inside an occurrence of any secret is overwritten in place with an asterisk, so the body
// keeps its length (a relayed content-length stays true) and its JSON or SSE framing. The output is
// the same for any chunking of the same body.
import type { SecretSet } from './secret-set.js';

const MASK = 0x2a; // '*'

export class StreamRedactor {
  /** The raw bytes held back at the end of the last chunk (the beginning of a secret, maybe). */
  private held: Buffer | null = null;
  /** How many of the held bytes belong to a secret already found (they are masked when sent). */
  private heldMasked = 0;

  constructor(private readonly secrets: SecretSet) {}

  /** What may go to the client now: the chunk (and any held bytes) with secrets masked, minus a held tail. */
  push(chunk: Buffer): Buffer {
    const held = this.held;
    return this.take(held === null ? chunk : Buffer.concat([held, chunk]), false);
  }

  /** The held bytes at the end of the body (they turned out not to be a secret). */
  end(): Buffer | null {
    const h = this.held;
    if (h === null) return null;
    return this.take(h, true);
  }

  /**
   * Masks `raw` and keeps back its partial tail (none when `last`). Secrets are searched in the raw
   * bytes, never in masked ones, so one secret's mask cannot hide another's occurrence and held
   * bytes can still complete a secret that starts in them. Masking writes into a copy: `raw` may be
   * the upstream's buffer (undici's socket buffer).
   */
  private take(raw: Buffer, last: boolean): Buffer {
    if (raw.length === 0) return raw;
    const cut = last ? raw.length : this.secrets.partialStart(raw);
    let out: Buffer | undefined;
    if (this.heldMasked > 0) {
      out = Buffer.from(raw);
      out.fill(MASK, 0, this.heldMasked);
    }
    // Masked bytes carried over that are held back again stay marked.
    let heldMasked = Math.max(0, this.heldMasked - cut);
    if (this.secrets.mayOccurIn(raw)) {
      for (const s of this.secrets.bytes) {
        // From `at + 1`: occurrences of one secret may overlap, and each is masked whole.
        for (let at = raw.indexOf(s); at !== -1; at = raw.indexOf(s, at + 1)) {
          out ??= Buffer.from(raw);
          out.fill(MASK, at, at + s.length);
          // An occurrence that starts before the cut is not found again next time: carry its end over.
          if (at < cut) heldMasked = Math.max(heldMasked, at + s.length - cut);
        }
      }
    }
    this.held = cut === raw.length ? null : Buffer.from(raw.subarray(cut));
    this.heldMasked = heldMasked;
    const send = out ?? raw;
    return cut === raw.length ? send : send.subarray(0, cut);
  }
}
