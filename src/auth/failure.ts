// Why a credential was refused. The message is written for the client: precise about what to fix
// (expired, wrong audience, wrong algorithm, where the key goes), silent about anything it could use
// to probe (which keys exist, what the expected values are, what the key set holds).
import { GatewayError } from '../core/errors.js';

export type AuthFailureReason =
  | 'missing'
  | 'ambiguous'
  | 'invalid_key'
  | 'malformed'
  | 'expired'
  | 'not_yet_valid'
  | 'audience'
  | 'issuer'
  | 'algorithm'
  | 'signature'
  | 'no_key'
  | 'claims'
  | 'jwks_unavailable';

export class AuthFailure extends Error {
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
    /** `Bearer` for token failures (RFC 6750 challenge), else undefined. */
    readonly scheme: 'Bearer' | undefined = undefined,
  ) {
    super(message);
    this.name = 'AuthFailure';
  }

  toGatewayError(): GatewayError {
    if (this.reason === 'jwks_unavailable') {
      return new GatewayError('auth_unavailable', this.message, { headers: { 'retry-after': '1' } });
    }
    // RFC 9110 §15.5.2: a 401 carries a challenge. RFC 6750 §3.1 error codes for bearer tokens.
    const challenge =
      this.scheme === 'Bearer'
        ? this.reason === 'missing'
          ? 'Bearer realm="tollgate"'
          : 'Bearer realm="tollgate", error="invalid_token"'
        : 'ApiKey realm="tollgate"';
    return new GatewayError('unauthenticated', this.message, { headers: { 'www-authenticate': challenge } });
  }
}
