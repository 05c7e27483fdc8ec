// Cloud credentials of a BackendSecurityPolicy: AWSCredentials (a credentials file with a profile, or
// the default chain), GCPCredentials (a service-account key, or Application Default Credentials) and
// AzureCredentials (client secret). Secret material is read and checked here; tokens are fetched
// later, in the background (src/credentials).
import { defaultChainSource, parseCredentialsFile, staticKeySource } from '../../credentials/aws.js';
import { azureTokenSource, gcpAdcSource, gcpTokenSource, parseServiceAccount } from '../../credentials/oauth.js';
import { CredentialFetchError, RefreshingSource } from '../../credentials/refresh.js';
import { SecretValue } from '../../core/secret.js';
import { BEDROCK_SIGNING_SERVICE } from '../../protocol/bedrock.js';
import type { Manifest } from '../parse.js';
import type { SecretLookup } from '../secrets.js';
import type { CredentialOverride, UpstreamCredential } from '../types.js';
import { type Ctx, error, type Path, warn } from './context.js';
import { withOverride } from './credentials.js';

type Policy = Manifest<'BackendSecurityPolicy'>;
type Remember = (p: Policy, text: string, build: () => UpstreamCredential | undefined) => UpstreamCredential | undefined;

/** The Secret keys each credential type reads (Envoy AI Gateway's names). */
export const CLOUD_SECRET_KEYS = { aws: 'credentials', gcp: 'service_account.json', azure: 'client-secret' } as const;

/** Annotation on a BackendSecurityPolicy overriding the OAuth2 token endpoint (tests, sovereign clouds). */
const TOKEN_URL_ANNOTATION = 'tollgate.io/token-url';

export function cloudCredential(ctx: Ctx, p: Policy, override: CredentialOverride | undefined, remember: Remember): UpstreamCredential | undefined {
  const c = cloudCredentialInner(ctx, p, override, remember);
  return c === undefined || override === undefined ? c : { ...c, value: withOverride(c.value, override) };
}

function cloudCredentialInner(ctx: Ctx, p: Policy, override: CredentialOverride | undefined, remember: Remember): UpstreamCredential | undefined {
  const spec = p.value.spec;
  const policyName = `BackendSecurityPolicy ${p.key}`;
  const tokenUrl = tokenUrlOf(ctx, p);
  if (tokenUrl === null) return undefined;
  switch (spec.type) {
    case 'AWSCredentials': {
      const aws = spec.awsCredentials;
      if (aws === undefined) return undefined;
      if (aws.oidcExchangeToken !== undefined) {
        error(ctx, p, ['spec', 'awsCredentials', 'oidcExchangeToken'], '`oidcExchangeToken` is not supported yet', 'use the default credential chain (omit credentialsFile; IRSA and Pod Identity work through it) or a credentialsFile');
        return undefined;
      }
      const file = aws.credentialsFile;
      if (file === undefined) {
        const value = new SecretValue('', `AWS default credential chain (region ${aws.region})`);
        return remember(p, `chain\0${aws.region}\0${JSON.stringify(override ?? null)}`, () => ({
          kind: 'aws-sigv4',
          policy: 'AWSCredentials',
          header: 'authorization',
          value,
          policyName,
          override,
          region: aws.region,
          service: BEDROCK_SIGNING_SERVICE,
          keys: defaultChainSource(policyName, aws.region),
        }));
      }
      const profile = file.profile ?? 'default';
      const t = secretText(ctx, p, ['spec', 'awsCredentials', 'credentialsFile', 'secretRef'], file.secretRef, CLOUD_SECRET_KEYS.aws);
      if (t === undefined) return undefined;
      const keys = parseCredentialsFile(t.value, profile);
      if ('error' in keys) {
        error(ctx, p, ['spec', 'awsCredentials', 'credentialsFile'], `${keys.error} (${t.source})`, keys.hint);
        return undefined;
      }
      const value = new SecretValue(t.value, `${t.source} (profile ${profile}, region ${aws.region})`);
      return remember(p, `file\0${value.source}\0${t.value}\0${JSON.stringify(override ?? null)}`, () => ({
        kind: 'aws-sigv4',
        policy: 'AWSCredentials',
        header: 'authorization',
        value,
        policyName,
        override,
        region: aws.region,
        service: BEDROCK_SIGNING_SERVICE,
        keys: staticKeySource(policyName, keys),
      }));
    }
    case 'GCPCredentials': {
      const gcp = spec.gcpCredentials;
      if (gcp === undefined) return undefined;
      const base: Path = ['spec', 'gcpCredentials'];
      if (gcp.isPassthrough === true) {
        error(ctx, p, [...base, 'isPassthrough'], '`isPassthrough` is not supported yet', 'set projectName, region and a credentialsFile (or use Application Default Credentials)');
        return undefined;
      }
      if (gcp.workloadIdentityFederationConfig !== undefined) {
        error(ctx, p, [...base, 'workloadIdentityFederationConfig'], '`workloadIdentityFederationConfig` is not supported yet', 'use a service account credentialsFile, or omit both to use Application Default Credentials (GKE Workload Identity)');
        return undefined;
      }
      if (gcp.projectName === undefined || gcp.region === undefined) {
        error(ctx, p, base, 'GCPCredentials needs projectName and region (Vertex AI paths name them)', 'e.g. gcpCredentials: {projectName: my-project, region: us-central1, credentialsFile: …}');
        return undefined;
      }
      const where = { project: gcp.projectName, region: gcp.region };
      const file = gcp.credentialsFile;
      if (file === undefined) {
        const value = new SecretValue('', `GCP Application Default Credentials (project ${where.project}, region ${where.region})`);
        return remember(p, `adc\0${value.source}\0${tokenUrl ?? ''}\0${JSON.stringify(override ?? null)}`, () => ({
          kind: 'bearer-token',
          policy: 'GCPCredentials',
          header: 'authorization',
          value,
          policyName,
          override,
          tokens: gcpAdcSource(policyName, tokenUrl),
          gcp: where,
        }));
      }
      const t = secretText(ctx, p, [...base, 'credentialsFile', 'secretRef'], file.secretRef, CLOUD_SECRET_KEYS.gcp);
      if (t === undefined) return undefined;
      const sa = parseServiceAccount(t.value);
      const value = new SecretValue(t.value, `${t.source} (project ${where.project}, region ${where.region})`);
      if ('error' in sa) {
        // Envoy AI Gateway's own example ships a "{}" placeholder: say so, and fail its requests
        // (a metric and a log line) rather than refuse the whole config.
        warn(ctx, p, [...base, 'credentialsFile'], `${sa.error} (${t.source}); requests to the backends this policy targets will fail until it is fixed`, sa.hint);
      }
      return remember(p, `sa\0${value.source}\0${t.value}\0${tokenUrl ?? ''}\0${JSON.stringify(override ?? null)}`, () => ({
        kind: 'bearer-token',
        policy: 'GCPCredentials',
        header: 'authorization',
        value,
        policyName,
        override,
        tokens:
          'error' in sa
            ? new RefreshingSource<string>(policyName, 'gcp', () => Promise.reject(new CredentialFetchError(`${sa.error} (${t.source})`)))
            : gcpTokenSource(policyName, sa, tokenUrl),
        gcp: where,
      }));
    }
    case 'AzureCredentials': {
      const az = spec.azureCredentials;
      if (az === undefined) return undefined;
      const base: Path = ['spec', 'azureCredentials'];
      if (az.oidcExchangeToken !== undefined) {
        error(ctx, p, [...base, 'oidcExchangeToken'], '`oidcExchangeToken` is not supported yet', 'use clientSecretRef (a client secret of the app registration)');
        return undefined;
      }
      if (az.clientSecretRef === undefined) {
        error(ctx, p, base, 'AzureCredentials needs clientSecretRef', 'name a Secret holding the client secret under the key `client-secret`');
        return undefined;
      }
      const t = secretText(ctx, p, [...base, 'clientSecretRef'], az.clientSecretRef, CLOUD_SECRET_KEYS.azure);
      if (t === undefined) return undefined;
      const secret = t.value.trim();
      if (secret === '') {
        error(ctx, p, [...base, 'clientSecretRef'], `the ${t.source} is empty`, 'put the client secret in it');
        return undefined;
      }
      const value = new SecretValue(secret, `${t.source} (tenant ${az.tenantID}, client ${az.clientID})`);
      return remember(p, `az\0${value.source}\0${secret}\0${tokenUrl ?? ''}\0${JSON.stringify(override ?? null)}`, () => ({
        kind: 'bearer-token',
        policy: 'AzureCredentials',
        header: 'authorization',
        value,
        policyName,
        override,
        tokens: azureTokenSource(policyName, { tenantId: az.tenantID, clientId: az.clientID, clientSecret: secret }, tokenUrl),
        gcp: undefined,
      }));
    }
    case 'APIKey':
    case 'AzureAPIKey':
    case 'AnthropicAPIKey':
      return undefined;
  }
}

function tokenUrlOf(ctx: Ctx, p: Policy): string | undefined | null {
  const v = p.value.metadata.annotations?.[TOKEN_URL_ANNOTATION];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^https?:\/\/[^\s]+$/.test(v)) {
    error(ctx, p, ['metadata', 'annotations', TOKEN_URL_ANNOTATION], 'the token URL must be an http(s) URL', 'e.g. https://oauth2.googleapis.com/token');
    return null;
  }
  return v;
}

function secretText(
  ctx: Ctx,
  p: Policy,
  path: Path,
  ref: { name: string; namespace?: string | undefined; kind?: string | undefined; group?: string | undefined },
  key: string,
): { value: string; source: string } | undefined {
  if ((ref.kind !== undefined && ref.kind !== 'Secret') || (ref.group !== undefined && ref.group !== '')) {
    error(ctx, p, path, `secretRef must name a Secret, not ${ref.group ?? ''}/${ref.kind ?? ''}`);
    return undefined;
  }
  const lookup: SecretLookup = { namespace: ref.namespace ?? p.namespace, name: ref.name, key };
  return ctx.secrets.text(lookup, { diags: ctx.diags, file: p.src.file, pos: p.src.locate([...path, 'name']), resource: p.label, path: path.map(String).join('.') });
}
