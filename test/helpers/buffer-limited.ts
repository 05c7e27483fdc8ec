// A gateway in front of one scripted upstream, with a ClientTrafficPolicy capping buffered request
// bodies at 64 KiB: backend "b", and route "r" sending model "m" to it. The tests of what a client is
// told when its request is refused (over-size bodies, bad JSON, malformed HTTP) all start from this
// same gateway, so it is built in one place; other tests take the policy alone with their own limit.
import { backendYaml, routeYaml, startGateway, type TestGateway } from './gateway.js';
import { startUpstream, type Upstream } from './upstream.js';

/** A ClientTrafficPolicy on Gateway "gw" that caps buffered request bodies at `bufferLimit`. */
export function clientTrafficPolicyYaml(bufferLimit: string): string {
  return `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata:
  name: limit
  namespace: default
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: Gateway
      name: gw
  connection:
    bufferLimit: ${bufferLimit}
`;
}

export async function startBufferLimitedGateway(): Promise<{ up: Upstream; gw: TestGateway }> {
  const up = await startUpstream();
  const gw = await startGateway({
    'b.yaml': backendYaml('b', [{ port: up.port }]),
    'r.yaml': routeYaml('r', [{ matches: [{ 'x-ai-eg-model': 'm' }], backends: [{ name: 'b' }] }]),
    'ctp.yaml': clientTrafficPolicyYaml('64Ki'),
  });
  return { up, gw };
}
