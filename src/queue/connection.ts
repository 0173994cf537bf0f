/**
 * `--queue` addresses: `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS. The
 * password and TLS pass through to ioredis; every printed form of the address has the password
 * replaced (`redactUrl`), so credentials never reach logs, errors or job data.
 */

import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { InvalidArgumentError } from '../core/errors.js';

export { DEFAULT_QUEUE_NAME } from './defaults.js';

const ALLOWED = 'redis://[user:password@]host:port[/db] or rediss://… (TLS)';

/** The address with any password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL: show no more than the scheme, in case it holds a secret.
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    return scheme === undefined ? '(not a URL)' : `${scheme}:…`;
  }
}

/** ioredis options for `url`, as BullMQ workers need them (no per-request retry limit). */
export function redisOptions(url: string, argument = '--queue'): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(argument, ALLOWED, redactUrl(url));
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidArgumentError(argument, ALLOWED, redactUrl(url));
  }
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) {
    throw new InvalidArgumentError(
      `${argument} database`,
      'a non-negative integer after the /',
      dbText,
    );
  }
  if (parsed.hostname === '')
    throw new InvalidArgumentError(`${argument} host`, ALLOWED, redactUrl(url));
  return {
    host: parsed.hostname,
    port,
    db,
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(parsed.protocol === 'rediss:' ? { tls: { servername: parsed.hostname } } : {}),
    // A connection attempt (TCP, TLS and the handshake) that gets no answer is given up.
    connectTimeout: 10_000,
    // BullMQ's blocking commands must wait out a Redis restart rather than fail the worker.
    maxRetriesPerRequest: null,
    // Reconnect forever, backing off to 2 s: a restarted Redis is picked up again.
    retryStrategy: (times: number) => Math.min(2000, 50 * times),
  };
}

/** Seconds `checkConnection` waits by default. */
export const CONNECT_TIMEOUT_S = 10;

const TLS_TRUST = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Why a connection failed, in words a user can act on. */
function reason(error: Error | undefined, timeoutS: number): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const message = error?.message ?? '';
  if (error === undefined)
    return `no answer within ${timeoutS} s (wrong host or port, a firewall dropping packets, or rediss:// to a plain-text port?)`;
  if (code === 'ECONNREFUSED')
    return 'connection refused: nothing listens there (is Redis running, is the port right?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the host name does not resolve';
  if (/WRONGPASS|invalid username-password/i.test(message))
    return 'authentication failed: wrong user name or password';
  if (/NOAUTH/i.test(message))
    return 'Redis requires a password: redis://[user]:PASSWORD@host:port';
  if (TLS_TRUST.has(code))
    return `the server's TLS certificate is not trusted (${code}): for a private CA set NODE_EXTRA_CA_CERTS=/path/ca.pem`;
  if (/wrong version number|EPROTO|packet length too long/i.test(`${code} ${message}`))
    return 'the TLS handshake failed: rediss:// needs a TLS port, redis:// a plain-text one';
  if (/timeout/i.test(`${code} ${message}`))
    return `no answer within ${timeoutS} s (wrong host or port, a firewall dropping packets, or rediss:// to a plain-text port?)`;
  return message === '' ? code : message;
}

/**
 * Connects to `url` once, with no retries, and pings it within `timeoutS` seconds: an
 * unreachable port, a wrong password or an untrusted TLS certificate is an error naming the
 * (redacted) address and the reason, instead of the endless reconnecting the workers' and
 * queue's own connections do (by design: they must survive a Redis restart).
 */
export async function checkConnection(
  url: string,
  timeoutS = CONNECT_TIMEOUT_S,
  argument = '--queue',
): Promise<void> {
  const options = redisOptions(url, argument);
  const client = new Redis({
    ...options,
    lazyConnect: true,
    connectTimeout: timeoutS * 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let last: Error | undefined;
  let timer: NodeJS.Timeout | undefined;
  // Every error ends the check at once: the client does not retry (a refused connection, a
  // rejected password, an untrusted certificate); silence ends it at the deadline.
  const failed = new Promise<never>((_, reject) => {
    client.on('error', (error: Error) => {
      last = error;
      reject(error);
    });
    timer = setTimeout(() => reject(new Error('deadline')), timeoutS * 1000);
  });
  try {
    await Promise.race([client.connect().then(() => client.ping()), failed]);
  } catch (error) {
    const cause = last ?? ((error as Error).message === 'deadline' ? undefined : (error as Error));
    throw new InvalidArgumentError(
      argument,
      'a reachable Redis',
      redactUrl(url),
      `${argument}: cannot use the queue at ${redactUrl(url)}: ${reason(cause, timeoutS)}`,
    );
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
