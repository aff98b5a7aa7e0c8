// RS256 JWTs with node:crypto only: the OAuth 2.0 JWT bearer assertion Salesforce expects
// (iss = consumer key, sub = username, aud = login host, exp).
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { ConfigError } from '../../domain/errors.js';

export interface JwtBearerClaims {
  iss: string;
  sub: string;
  aud: string;
  /** Seconds since the epoch. */
  exp: number;
}

function base64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

/** Parses the PEM once, so a bad key fails at construction, and never echoes the key in the error. */
export function loadPrivateKey(pem: string | KeyObject): KeyObject {
  if (typeof pem !== 'string') return pem;
  try {
    return createPrivateKey(pem);
  } catch {
    // The usual way a PEM breaks: an env var or a JSON file that kept "\n" as two characters.
    if (pem.includes('\\n') && !pem.trim().includes('\n')) {
      throw new ConfigError('privateKey is not a valid PEM private key: it holds literal "\\n" sequences instead of line breaks (replace them, e.g. key.replace(/\\\\n/g, "\\n"), or read the key from a file)');
    }
    if (!pem.includes('-----BEGIN')) throw new ConfigError('privateKey is not a valid PEM private key: no "-----BEGIN … PRIVATE KEY-----" line (pass the key itself, not a path or the certificate)');
    throw new ConfigError('privateKey is not a valid PEM private key');
  }
}

export function signJwt(claims: JwtBearerClaims, key: KeyObject): string {
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify(claims));
  const signingInput = `${header}.${payload}`;
  const signature = sign('RSA-SHA256', Buffer.from(signingInput), key);
  return `${signingInput}.${base64url(signature)}`;
}
