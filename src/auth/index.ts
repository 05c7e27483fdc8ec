// Client authentication and authorization: SecurityPolicy at request time. The pipeline's auth
// stage (src/pipeline/auth-stage.ts) is the only caller.
export { authorize, type AuthzDecision, type AuthzFacts } from './authorize.js';
export { type RequestView } from './extract.js';
export { AuthFailure, type AuthFailureReason } from './failure.js';
export { authenticatePolicy, type Identity, WORKLOAD_HEADER } from './identity.js';
export { keySourceFor } from './jwks.js';
