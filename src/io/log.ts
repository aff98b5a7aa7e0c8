// The one place Switchboard builds a pino logger. Redaction is a safety net: the io modules never put
// a token, an assertion or a key in a log line on purpose, but a caller's own bindings or a future
// `log.warn({ headers })` must not be able to leak one either.
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { ConfigError } from '../domain/errors.js';

/** Keys whose values never reach a log line, at the top level and one object down. */
const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'accessToken',
  'access_token',
  'token',
  'privateKey',
  'assertion',
] as const;

export const REDACT_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  // `*.key` covers one level down, e.g. `headers.authorization`, `auth.accessToken`, `jwt.privateKey`.
  ...SECRET_KEYS.map((k) => `*.${k}`),
];

export const REDACTED = '[redacted]';

export type { Logger };

/**
 * A pino logger with Switchboard's redaction paths merged into any the caller passes.
 * `destination` defaults to stdout, as in pino.
 */
export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  // pino throws a bare "unknown level" from deep inside; the level usually comes from
  // SWITCHBOARD_LOG_LEVEL, so say that and list what works.
  if (options.level !== undefined) {
    const allowed = [...Object.keys(pino.levels.values), 'silent', ...Object.keys(options.customLevels ?? {})];
    if (!allowed.includes(options.level)) {
      throw new ConfigError(`log level ${JSON.stringify(options.level)} is unknown (from SWITCHBOARD_LOG_LEVEL or the logger options): use one of ${allowed.join(', ')}`);
    }
  }
  const extra = Array.isArray(options.redact) ? options.redact : (options.redact?.paths ?? []);
  const paths = [...new Set([...REDACT_PATHS, ...extra])];
  const redact = { paths, censor: REDACTED };
  const merged: LoggerOptions = { name: 'switchboard', ...options, redact };
  return destination ? pino(merged, destination) : pino(merged);
}
