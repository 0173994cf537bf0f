/**
 * `--queue` addresses: `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS. The
 * password and TLS pass through to ioredis; every printed form of the address has the password
 * replaced (`redactUrl`), so credentials never reach logs, errors or job data.
 */

import type { RedisOptions } from 'bullmq';
import { InvalidArgumentError } from '../core/errors.js';

export const DEFAULT_QUEUE_NAME = 'cyclesparse';

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
    // BullMQ's blocking commands must wait out a Redis restart rather than fail the worker.
    maxRetriesPerRequest: null,
    // Reconnect forever, backing off to 2 s: a restarted Redis is picked up again.
    retryStrategy: (times: number) => Math.min(2000, 50 * times),
  };
}
