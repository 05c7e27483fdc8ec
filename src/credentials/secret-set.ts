// The secrets one response is masked for, as strings (upstream error messages) and as bytes
// (relayed bodies). A backend credential's set is made once per value of the credential and shared
// by every request that sends that value, so a request pays for none of this unless it brings a
// credential of its own.

/** Shorter values are left out: masking them would mangle ordinary text. */
const MIN_SECRET_LENGTH = 6;

export class SecretSet {
  /** Longest first, so a key is not half-replaced by a shorter secret it contains. */
  readonly strings: readonly string[];
  readonly bytes: readonly Buffer[];
  /**
   * The secrets that contain no other secret. Every occurrence of a secret contains an occurrence
   * of one of these, so a chunk without any of them holds no secret at all: for a configured
   * `Bearer KEY` that is one search for `KEY` instead of two.
   */
  private readonly roots: readonly Buffer[];
  private readonly maxLength: number;
  /** 1 at each byte value a secret starts with. */
  private readonly firstBytes = new Uint8Array(256);

  constructor(secrets: Iterable<string>) {
    const kept = new Set<string>();
    for (const s of secrets) if (s.length >= MIN_SECRET_LENGTH) kept.add(s);
    this.strings = [...kept].sort((a, b) => b.length - a.length);
    this.bytes = this.strings.map((s) => Buffer.from(s, 'utf8'));
    this.roots = this.bytes.filter((s, i) => !this.bytes.some((t, j) => j !== i && t.length < s.length && s.includes(t)));
    this.maxLength = this.bytes[0]?.length ?? 0;
    for (const s of this.bytes) this.firstBytes[s[0] as number] = 1;
  }

  get isEmpty(): boolean {
    return this.strings.length === 0;
  }

  /** This set and a request's own credential values (a client's credentialOverride). */
  with(more: readonly string[]): SecretSet {
    return new SecretSet([...this.strings, ...more]);
  }

  /** False when `buf` contains no secret (true means: look closer). */
  mayOccurIn(buf: Buffer): boolean {
    for (const r of this.roots) if (buf.indexOf(r) !== -1) return true;
    return false;
  }

  /**
   * Where the longest suffix of `buf` that is the beginning of a secret (not a whole one) starts;
   * `buf.length` when there is none. Only the last bytes can be one, and most are not the first
   * byte of any secret.
   */
  partialStart(buf: Buffer): number {
    for (let i = Math.max(0, buf.length - this.maxLength + 1); i < buf.length; i++) {
      const b = buf[i] as number;
      if (this.firstBytes[b] === 0) continue;
      const n = buf.length - i;
      // The earliest start that matches is the longest partial secret.
      for (const s of this.bytes) if (n < s.length && startsWith(s, buf, i)) return i;
    }
    return buf.length;
  }
}

/** Whether `s` begins with `buf`'s bytes from `from` on: a few bytes, cheaper compared here than by a native call. */
function startsWith(s: Buffer, buf: Buffer, from: number): boolean {
  for (let k = 0; from + k < buf.length; k++) if (buf[from + k] !== s[k]) return false;
  return true;
}
