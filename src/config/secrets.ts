// Secret lookup. A reference {name, namespace, key} resolves, in order, from a `Secret` manifest, from
// `<secretsDir>/<name>/<key>` (the Kubernetes Secret volume layout), and from the environment variable
// TOLLGATE_SECRET_<NAME>_<KEY>. Values in manifests may contain ${VAR} references to the environment.
// A secret that cannot be found is a config error at load time, never a surprise at request time.
// No message here ever includes a secret's value.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { SecretValue } from '../core/secret.js';
import type { Diagnostics, Pos } from './diagnostics.js';
import type { Manifest } from './parse.js';

export interface SecretRefSite {
  readonly diags: Diagnostics;
  readonly file: string;
  readonly pos: Pos;
  readonly resource: string;
  readonly path: string;
}

export interface SecretLookup {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
}

export function secretEnvName(name: string, key: string): string {
  return `TOLLGATE_SECRET_${name}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const VAR_REF = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

interface Found {
  readonly value: string;
  readonly source: string;
  /** Set when the value came from a Secret manifest (the only source where ${VAR} is expanded). */
  readonly manifest?: { readonly secret: Manifest<'Secret'>; readonly field: 'stringData' | 'data' };
}

export class SecretResolver {
  readonly #secrets: ReadonlyMap<string, Manifest<'Secret'>>;
  /** Secrets whose manifest failed its schema (already reported): no second "not found" error. */
  readonly #broken: ReadonlySet<string>;
  readonly #dir: string | undefined;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #purpose: 'serve' | 'validate';
  readonly #files = new Map<string, string | undefined>();

  constructor(opts: {
    secrets: ReadonlyMap<string, Manifest<'Secret'>>;
    broken?: ReadonlySet<string>;
    secretsDir: string | undefined;
    env: Readonly<Record<string, string | undefined>>;
    purpose: 'serve' | 'validate';
  }) {
    this.#secrets = opts.secrets;
    this.#broken = opts.broken ?? new Set();
    this.#dir = opts.secretsDir;
    this.#env = opts.env;
    this.#purpose = opts.purpose;
  }

  /** Reads every `<secretsDir>/<name>/<key>` that lookups may need, in parallel, before the sync compile. */
  async prefetch(lookups: Iterable<SecretLookup>): Promise<void> {
    const dir = this.#dir;
    if (dir === undefined) return;
    const wanted = new Set<string>();
    for (const l of lookups) {
      if (this.#fromManifest(l) === undefined) wanted.add(this.#dirPath(dir, l));
    }
    await Promise.all(
      [...wanted].map(async (p) => {
        try {
          this.#files.set(p, await fsp.readFile(p, 'utf8'));
        } catch {
          this.#files.set(p, undefined);
        }
      }),
    );
  }

  #dirPath(dir: string, l: SecretLookup): string {
    return join(dir, l.name, l.key);
  }

  #fromManifest(l: SecretLookup): { value: string; secret: Manifest<'Secret'>; field: 'stringData' | 'data' } | undefined {
    const s = this.#secrets.get(`${l.namespace}/${l.name}`);
    if (s === undefined) return undefined;
    const sd = s.value.stringData?.[l.key];
    if (sd !== undefined) return { value: sd, secret: s, field: 'stringData' };
    const d = s.value.data?.[l.key];
    if (d !== undefined) return { value: d, secret: s, field: 'data' };
    return undefined;
  }

  #find(l: SecretLookup, site: SecretRefSite): Found | undefined | null {
    const m = this.#fromManifest(l);
    if (m !== undefined) {
      let value = m.value;
      if (m.field === 'data') {
        const compact = value.replace(/\s+/g, '');
        if (!BASE64.test(compact) || compact.length % 4 !== 0) {
          site.diags.error({
            file: m.secret.src.file,
            pos: m.secret.src.locate(['data', l.key]),
            resource: m.secret.label,
            path: `data.${l.key}`,
            message: `data.${l.key} is not valid base64`,
            hint: 'values under `data:` are base64-encoded; put plain text under `stringData:` instead',
          });
          return null;
        }
        value = Buffer.from(compact, 'base64').toString('utf8');
      }
      return { value, source: `Secret ${l.namespace}/${l.name} key ${l.key}`, manifest: { secret: m.secret, field: m.field } };
    }
    if (this.#dir !== undefined) {
      const p = this.#dirPath(this.#dir, l);
      const text = this.#files.get(p);
      if (text !== undefined) return { value: text, source: `secret file ${p}` };
    }
    const envName = secretEnvName(l.name, l.key);
    const ev = this.#env[envName];
    if (ev !== undefined) return { value: ev, source: `environment variable ${envName}` };
    return undefined;
  }

  /** Whether a lookup would find something (for optional secrets: nothing is reported). */
  has(l: SecretLookup): boolean {
    if (this.#fromManifest(l) !== undefined) return true;
    if (this.#dir !== undefined && this.#files.get(this.#dirPath(this.#dir, l)) !== undefined) return true;
    return this.#env[secretEnvName(l.name, l.key)] !== undefined;
  }

  /** The raw text of a secret key (e.g. a CA bundle), or undefined after reporting why. */
  text(l: SecretLookup, site: SecretRefSite): { value: string; source: string } | undefined {
    const found = this.#find(l, site);
    if (found === null) return undefined;
    if (found === undefined) {
      this.#reportMissing(l, site);
      return undefined;
    }
    const value = found.manifest === undefined ? found.value : this.#substitute(found.value, l, found.manifest, site);
    if (value === undefined) return undefined;
    return { value, source: found.source };
  }

  /**
   * A credential: trimmed (mounted files usually end with a newline), non-empty, and safe to put in
   * a header. `format` builds the header value, e.g. `Bearer <key>`.
   */
  credential(l: SecretLookup, site: SecretRefSite, format: (v: string) => string): SecretValue | undefined {
    const t = this.text(l, site);
    if (t === undefined) return undefined;
    const v = t.value.trim();
    const fail = (message: string, hint: string): undefined => {
      site.diags.error({ file: site.file, pos: site.pos, resource: site.resource, path: site.path, message, hint });
      return undefined;
    };
    if (v === '') return fail(`the ${t.source} is empty`, 'put the API key in it');
    if (/[\r\n]/.test(v) || [...v].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
      return fail(`the ${t.source} contains a line break or control character`, 'an API key must be a single line of printable characters');
    }
    return new SecretValue(format(v), t.source);
  }

  #substitute(
    value: string,
    l: SecretLookup,
    from: NonNullable<Found['manifest']>,
    { diags }: SecretRefSite,
  ): string | undefined {
    if (!value.includes('${')) return value;
    let failed = false;
    // Reported where the ${VAR} is written: the Secret's own key.
    const site = {
      file: from.secret.src.file,
      pos: from.secret.src.locate([from.field, l.key]),
      resource: from.secret.label,
      path: `${from.field}.${l.key}`,
    };
    const out = value.replace(VAR_REF, (whole, escape: string, name: string) => {
      if (escape === '$') return whole.slice(1);
      const v = this.#env[name];
      if (v !== undefined) return v;
      const where = `Secret ${l.namespace}/${l.name} key ${l.key}`;
      if (this.#purpose === 'serve') {
        failed = true;
        diags.error({
          file: site.file,
          pos: site.pos,
          resource: site.resource,
          path: site.path,
          message: `${where} refers to environment variable ${name}, which is not set`,
          hint: `set ${name} in the gateway's environment (write $\${${name}} for a literal "\${${name}}")`,
        });
      } else {
        diags.warn({
          file: site.file,
          pos: site.pos,
          resource: site.resource,
          path: site.path,
          message: `${where} refers to environment variable ${name}, which is not set here`,
          hint: `\`tollgate serve\` will refuse this config unless ${name} is set`,
        });
      }
      return whole;
    });
    return failed ? undefined : out;
  }

  #reportMissing(l: SecretLookup, site: SecretRefSite): void {
    if (this.#broken.has(`${l.namespace}/${l.name}`)) return;
    const s = this.#secrets.get(`${l.namespace}/${l.name}`);
    const places = [
      s === undefined
        ? `a Secret manifest named ${l.namespace}/${l.name} (none is defined)`
        : `Secret manifest ${l.namespace}/${l.name} (it has no key \`${l.key}\`; keys: ${[
            ...Object.keys(s.value.stringData ?? {}),
            ...Object.keys(s.value.data ?? {}),
          ].join(', ') || 'none'})`,
      this.#dir === undefined ? 'a secrets directory (none given: --secrets-dir)' : `the file ${join(this.#dir, l.name, l.key)}`,
      `the environment variable ${secretEnvName(l.name, l.key)}`,
    ];
    site.diags.error({
      file: site.file,
      pos: site.pos,
      resource: site.resource,
      path: site.path,
      message: `secret ${l.namespace}/${l.name} key \`${l.key}\` not found`,
      hint: `looked in ${places.join('; in ')}`,
    });
  }
}
