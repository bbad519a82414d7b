import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { FaasError } from '../../core/errors.ts';

describe('config', () => {
  it('defaults to loopback with embedded backends', () => {
    const c = loadConfig({});
    expect(c.FAAS_HOST).toBe('127.0.0.1');
    expect(c.FAAS_PORT).toBe(8080);
    expect(c.REDIS_URL).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('refuses to listen beyond loopback without a token', () => {
    expect(() => loadConfig({ FAAS_HOST: '0.0.0.0' })).toThrow(expect.objectContaining({ code: 'FAAS_INSECURE_BIND' }) as Error);
    expect(loadConfig({ FAAS_HOST: '0.0.0.0', FAAS_API_TOKEN: 'a-long-enough-token' }).FAAS_HOST).toBe('0.0.0.0');
  });

  it('names the bad variable', () => {
    try {
      loadConfig({ FAAS_PORT: 'eighty', FAAS_API_TOKEN: 'short' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FaasError);
      expect((err as FaasError).code).toBe('FAAS_CONFIG_INVALID');
      expect((err as FaasError).message).toMatch(/FAAS_PORT/);
      expect((err as FaasError).message).toMatch(/FAAS_API_TOKEN/);
    }
  });
});
