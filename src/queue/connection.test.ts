import { describe, expect, test } from 'vitest';
import { redactUrl, redisOptions } from './connection.js';

describe('queue addresses', () => {
  test('redis:// and rediss:// URLs become ioredis options; password and TLS pass through', () => {
    expect(redisOptions('redis://127.0.0.1:6390/2')).toMatchObject({
      host: '127.0.0.1',
      port: 6390,
      db: 2,
    });
    expect(redisOptions('redis://queue.lab')).toMatchObject({
      host: 'queue.lab',
      port: 6379,
      db: 0,
    });
    const secure = redisOptions('rediss://worker:s%40cret@queue.lab:6380');
    expect(secure).toMatchObject({
      username: 'worker',
      password: 's@cret',
      tls: { servername: 'queue.lab' },
    });
    expect(secure.maxRetriesPerRequest).toBeNull();
  });

  test('bad addresses are errors naming --queue and the allowed form, without the password', () => {
    expect(() => redisOptions('http://user:topsecret@host:1')).toThrow(
      /--queue: expected redis:\/\/.*got "http:\/\/user:\*\*\*@host:1\/"/,
    );
    expect(() => redisOptions('not a url')).toThrow(/--queue: expected redis:\/\//);
    expect(() => redisOptions('redis://host:1/x')).toThrow(
      /--queue database: expected a non-negative integer/,
    );
    for (const bad of ['http://user:topsecret@host:1', 'redis://:topsecret@host:1/x']) {
      try {
        redisOptions(bad);
      } catch (error) {
        expect((error as Error).message).not.toContain('topsecret');
      }
    }
  });

  test('redactUrl hides passwords and nothing else', () => {
    expect(redactUrl('redis://:pw@h:1/0')).toBe('redis://:***@h:1/0');
    expect(redactUrl('rediss://u:pw@h:1')).toBe('rediss://u:***@h:1');
    expect(redactUrl('redis://h:1')).toBe('redis://h:1');
    expect(redactUrl('secret-token-no-url')).not.toContain('token');
  });
});
