// Kubernetes core v1 Secret and ConfigMap, and Gateway API BackendTLSPolicy (v1alpha3 and v1).
import * as z from 'zod';
import { accepted, hostname, localObjectRef, localPolicyTargetRef, metadata, obj } from './common.js';

export const secret = obj({
  apiVersion: z.string(),
  kind: z.string(),
  metadata,
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
  immutable: z.boolean().optional(),
});
export type SecretManifest = z.infer<typeof secret>;

export const configMap = obj({
  apiVersion: z.string(),
  kind: z.string(),
  metadata,
  data: z.record(z.string(), z.string()).optional(),
  binaryData: z.record(z.string(), z.string()).optional(),
  immutable: z.boolean().optional(),
});
export type ConfigMapManifest = z.infer<typeof configMap>;

export const backendTlsPolicy = obj({
  apiVersion: z.string(),
  kind: z.string(),
  metadata,
  spec: obj({
    targetRefs: z.array(localPolicyTargetRef).min(1),
    validation: obj({
      caCertificateRefs: z.array(localObjectRef).optional(),
      wellKnownCACertificates: z.enum(['System']).optional(),
      hostname,
      subjectAltNames: accepted,
    }),
    options: z.record(z.string(), z.string()).optional(),
  }),
  status: accepted,
});
export type BackendTlsPolicyManifest = z.infer<typeof backendTlsPolicy>;
