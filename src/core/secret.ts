// A secret value that cannot leak by accident: printing, logging, JSON-serializing or inspecting it
// shows only where it came from. Only `reveal()` returns the value, and only credential injection
// calls it.
import { inspect } from 'node:util';

export class SecretValue {
  readonly #value: string;
  /** Where the value came from, e.g. `Secret default/gemini-api-key key apiKey`. Safe to print. */
  readonly source: string;

  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }

  reveal(): string {
    return this.#value;
  }

  /** Constant-time-ish equality for comparing with another secret (no early exit on content). */
  equals(other: SecretValue): boolean {
    const a = this.#value;
    const b = other.reveal();
    let diff = a.length ^ b.length;
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
    return diff === 0;
  }

  toString(): string {
    return `<redacted: ${this.source}>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
