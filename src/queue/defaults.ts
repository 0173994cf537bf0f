/**
 * The queue's names that help texts show. Apart from connection.ts and signing.ts (which pull in
 * ioredis and the configuration code) so that `cyclesparse --help` need not load those.
 */

export const DEFAULT_QUEUE_NAME = 'cyclesparse';

/** The environment variable holding the queue key, when no key file is given. */
export const QUEUE_KEY_ENV = 'CYCLESPARSE_QUEUE_KEY';
