// What credential refreshes did, for metrics and logs. Sources are created by config compilation,
// which knows no logger or registry, so they report here; every running gateway subscribes.

export interface CredentialEvent {
  readonly policy: string;
  readonly kind: 'gcp' | 'azure' | 'aws';
  readonly ok: boolean;
  /** Why a fetch failed (never contains a secret: messages are written by us). */
  readonly error?: string;
  readonly expiresAtMs: number | undefined;
}

export interface CredentialStat {
  readonly policy: string;
  readonly kind: 'gcp' | 'azure' | 'aws';
  refreshes: number;
  failures: number;
  expiresAtMs: number | undefined;
  lastError: string | undefined;
}

type Listener = (e: CredentialEvent) => void;

const listeners = new Set<Listener>();
const stats = new Map<string, CredentialStat>();

export function credentialEvent(e: CredentialEvent): void {
  let s = stats.get(e.policy);
  if (s === undefined) {
    s = { policy: e.policy, kind: e.kind, refreshes: 0, failures: 0, expiresAtMs: undefined, lastError: undefined };
    stats.set(e.policy, s);
  }
  if (e.ok) {
    s.refreshes++;
    s.expiresAtMs = e.expiresAtMs;
    s.lastError = undefined;
  } else {
    s.failures++;
    s.lastError = e.error;
  }
  for (const l of listeners) {
    try {
      l(e);
    } catch {
      // a listener's bug must not stop the others, nor the refresh
    }
  }
}

/** Subscribes to refresh events; returns the unsubscribe function. */
export function onCredentialEvent(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Per-policy refresh counts (process-wide; policies keep their counts across reloads). */
export function credentialStats(): Iterable<Readonly<CredentialStat>> {
  return stats.values();
}
