// Credentials that expire (GCP and Azure access tokens, temporary AWS keys) are fetched once, then
// refreshed in the background ahead of expiry, so requests read a cached value and never wait, except
// the very first one. A failed refresh is counted and logged and retried with back-off while the old
// value stays in use; it never throws into a request that has a valid value, and never crashes.
//
// A source refreshes only while it is used: a config reload that replaces it leaves the old one to
// go idle after its next refresh point instead of fetching forever.
import { credentialEvent } from './observe.js';

export interface Fetched<T> {
  readonly value: T;
  /** Epoch ms when the value stops working; undefined for values that never expire. */
  readonly expiresAtMs: number | undefined;
}

export interface RefreshOptions {
  /** Refresh this long before expiry (capped at half the lifetime). Default 5 minutes. */
  readonly marginMs?: number;
  /** Treat a value as expired this long before its expiry (clock skew, request duration). Default 30 s. */
  readonly skewMs?: number;
  readonly now?: () => number;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;

export class CredentialFetchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CredentialFetchError';
  }
}

export class RefreshingSource<T> {
  private value: Fetched<T> | undefined;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private usedSinceFetch = false;
  private fetchedAt = 0;
  private failures = 0;
  private readonly marginMs: number;
  private readonly skewMs: number;
  private readonly now: () => number;

  constructor(
    /** `BackendSecurityPolicy namespace/name`, for logs and metrics. */
    readonly policy: string,
    readonly kind: 'gcp' | 'azure' | 'aws',
    private readonly fetcher: () => Promise<Fetched<T>>,
    opts: RefreshOptions = {},
  ) {
    this.marginMs = opts.marginMs ?? 5 * 60_000;
    this.skewMs = opts.skewMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  current(): T | undefined {
    const v = this.value;
    if (v === undefined) return undefined;
    if (v.expiresAtMs !== undefined && this.now() >= v.expiresAtMs - this.skewFor(v)) {
      // Expired (refreshes kept failing, or the source was idle): start over in the background.
      void this.fetchNow().catch(() => undefined);
      return undefined;
    }
    if (!this.usedSinceFetch) {
      this.usedSinceFetch = true;
      // An idle source that is used again resumes its refresh schedule.
      if (this.timer === undefined && this.inflight === undefined) this.schedule(v);
    }
    return v.value;
  }

  whenReady(): Promise<void> {
    if (this.current() !== undefined) return Promise.resolve();
    return this.fetchNow();
  }

  /** Stops background refreshes (the value stays readable until it expires). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fetchNow(): Promise<void> {
    this.inflight ??= this.fetcher().then(
      (v) => {
        this.inflight = undefined;
        this.value = v;
        this.fetchedAt = this.now();
        this.failures = 0;
        this.usedSinceFetch = false;
        credentialEvent({ policy: this.policy, kind: this.kind, ok: true, expiresAtMs: v.expiresAtMs });
        this.schedule(v);
      },
      (err: unknown) => {
        this.inflight = undefined;
        this.failures++;
        const message = err instanceof Error ? err.message : String(err);
        credentialEvent({ policy: this.policy, kind: this.kind, ok: false, error: message, expiresAtMs: this.value?.expiresAtMs });
        // Keep trying while someone depends on the value; an unused source gives up until asked again.
        if (this.value !== undefined && this.usedSinceFetch) {
          const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(10, this.failures - 1));
          this.arm(delay);
        }
        throw err instanceof CredentialFetchError ? err : new CredentialFetchError(message, { cause: err });
      },
    );
    return this.inflight;
  }

  /** Short-lived values (tests, some token services) get a proportionally short safety margin. */
  private skewFor(v: Fetched<T>): number {
    return Math.min(this.skewMs, Math.max(0, ((v.expiresAtMs ?? 0) - this.fetchedAt) / 10));
  }

  private schedule(v: Fetched<T>): void {
    if (v.expiresAtMs === undefined) return;
    const lifetime = v.expiresAtMs - this.now();
    const margin = Math.min(this.marginMs, Math.max(0, lifetime / 2));
    this.arm(Math.max(0, lifetime - margin));
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Nobody used the value since the last fetch: go idle; current() resumes the schedule.
      if (!this.usedSinceFetch) return;
      void this.fetchNow().catch(() => undefined);
    }, ms);
    // Background refreshes never keep the process alive on their own.
    this.timer.unref();
  }
}
