// The injected credential never reaches a client, also not inside a successful (streamed) body an
// upstream echoes it in. Bytes pass through as they come; only when a chunk ends with the beginning
// of a secret are those few bytes held until the next chunk shows whether the secret follows. A
// found secret is overwritten in place with as many asterisks, so the body keeps its length (a
// relayed content-length stays true) and its JSON or SSE framing.

const MASK = 0x2a; // '*'

export class StreamRedactor {
  private readonly secrets: readonly Buffer[];
  private held: Buffer | null = null;

  /** `secrets` as credentialSecrets returns them (longest first, none shorter than 6). */
  constructor(secrets: readonly string[]) {
    this.secrets = secrets.map((s) => Buffer.from(s, 'utf8'));
  }

  /** What may go to the client now: the chunk (and any held bytes) with secrets masked, minus a held tail. */
  push(chunk: Buffer): Buffer {
    let buf = this.held === null ? chunk : Buffer.concat([this.held, chunk]);
    this.held = null;
    let copied = false;
    for (const s of this.secrets) {
      let at = buf.indexOf(s);
      while (at !== -1) {
        if (!copied) {
          // The upstream's chunk may be shared (undici's socket buffer): never write into it.
          buf = Buffer.from(buf);
          copied = true;
        }
        buf.fill(MASK, at, at + s.length);
        at = buf.indexOf(s, at + s.length);
      }
    }
    const keep = this.partialTail(buf);
    if (keep === 0) return buf;
    this.held = Buffer.from(buf.subarray(buf.length - keep));
    return buf.subarray(0, buf.length - keep);
  }

  /** The held bytes at the end of the body (they turned out not to be a secret). */
  end(): Buffer | null {
    const h = this.held;
    this.held = null;
    return h;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of some secret. */
  private partialTail(buf: Buffer): number {
    let best = 0;
    for (const s of this.secrets) {
      const first = s[0];
      const from = Math.max(0, buf.length - s.length + 1);
      for (let i = from; i < buf.length; i++) {
        if (buf[i] !== first) continue;
        const n = buf.length - i;
        // The earliest start that matches is the longest partial secret.
        if (buf.compare(s, 0, n, i, buf.length) === 0) {
          if (n > best) best = n;
          break;
        }
      }
    }
    return best;
  }
}
