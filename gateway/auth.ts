/** Bearer-token check for the control API, in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { FaasError } from '../core/errors.ts';

export function bearerAuth(token: string | undefined): (req: FastifyRequest) => Promise<void> {
  if (token === undefined) return async () => undefined;
  const expected = digest(token);
  return async (req) => {
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    // Hash both sides so the comparison is constant-time whatever the lengths.
    if (given === '' || !timingSafeEqual(digest(given), expected)) {
      throw new FaasError('FAAS_UNAUTHORIZED', given === '' ? 'missing bearer token: send Authorization: Bearer <FAAS_API_TOKEN>' : 'wrong bearer token');
    }
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
