// inference.networking.k8s.io/v1 InferencePool (Gateway API Inference Extension). Inside Kubernetes
// its selector picks pods and an external endpoint picker (EPP) chooses one per request; outside,
// Tollgate reads the endpoints from an annotation and picks them itself, so the selector and the
// picker reference are accepted and reported as not applying.
import * as z from 'zod';
import { manifest, nonEmpty, obj, objectName, port } from './common.js';

export const inferencePool = manifest(
  obj({
    selector: obj({ matchLabels: z.record(z.string(), z.string()) }),
    targetPorts: z.array(obj({ number: port })).min(1).max(8),
    endpointPickerRef: obj({
      group: z.string().optional(),
      kind: z.string().optional(),
      name: objectName,
      port: obj({ number: port }).optional(),
      failureMode: z.enum(['FailOpen', 'FailClose']).optional(),
    }).optional(),
    appProtocol: nonEmpty.optional(),
  }),
);
export type InferencePoolSpec = z.infer<typeof inferencePool>['spec'];
