/**
 * Direct calls between functions (orchestration): `ctx.invoke(name, payload)` runs the callee on
 * this node, warm or cold, and answers its result; `ctx.invokeAsync(name, payload)` queues the call
 * durably (triggers/async-calls.ts) and answers its id.
 *
 * - The call path travels with the call (`chain`): a callee already on it is a cycle and is refused
 *   (FAAS_CALL_CYCLE), and so is a path longer than FAAS_MAX_CALL_DEPTH (FAAS_CALL_DEPTH_EXCEEDED),
 *   both before anything runs.
 * - The caller's remaining time bounds the callee, less a small margin so the caller still has time
 *   to handle a callee timeout (compensate, answer an error).
 * - The callee's failure reaches the caller as a rejected promise with the callee's code and
 *   `details: { function, invocationId, name }`.
 * - Correlation id and parent invocation go with every call, so one request can be followed
 *   across functions (`faas logs --correlation`).
 * - A callee of an invocation with a fence (a topic record) gets a fence derived from it and the
 *   call's position, so a redelivered record's callees do not apply their state writes twice either.
 */
import { FUNCTION_NAME } from '../core/manifest.ts';
import { FaasError } from '../core/errors.ts';
import type { InvocationScopes, Scope } from './invocation-scope.ts';
import type { InvokeInput, Invoker } from './invoker.ts';

/** Largest payload of one direct call (JSON text). */
export const CALL_PAYLOAD_BYTES = 1024 * 1024;

/** Milliseconds kept back from a callee for its caller: 5 % of what is left, between 5 and 100. */
export function callerMargin(remainingMs: number): number {
  return Math.min(100, Math.max(5, remainingMs * 0.05));
}

export interface AsyncEnqueuer {
  enqueue(name: string, input: InvokeInput): Promise<{ invocationId: string }>;
}

export interface DirectCallsOptions {
  invoker: Invoker;
  /** Where ctx.invokeAsync queues. */
  queue: AsyncEnqueuer;
  /** Deepest call path, counting the first function. */
  maxDepth: number;
}

export class DirectCalls {
  private readonly o: DirectCallsOptions;

  constructor(options: DirectCallsOptions) {
    this.o = options;
  }

  /** Answer the guests' `invoke` and `invokeAsync` calls through the invocation scopes. */
  attach(scopes: InvocationScopes): void {
    scopes.extend('invoke', (scope, args) => this.invoke(scope, args));
    scopes.extend('invokeAsync', (scope, args) => this.invokeAsync(scope, args));
  }

  async invoke(scope: Scope, args: unknown[]): Promise<string> {
    const { name, data } = parseCall(args);
    const chain = [...scope.ctx.chain, name];
    if (scope.ctx.chain.includes(name)) {
      throw new FaasError('FAAS_CALL_CYCLE', `calling "${name}" would close a cycle: ${chain.join(' → ')}`, { details: { chain } });
    }
    if (chain.length > this.o.maxDepth) {
      throw new FaasError('FAAS_CALL_DEPTH_EXCEEDED', `calling "${name}" would nest ${chain.length} functions deep; the limit is ${this.o.maxDepth}`, { details: { chain } });
    }
    const remaining = scope.ctx.deadline - Date.now();
    const budget = Math.floor(remaining - callerMargin(remaining));
    if (budget <= 0) throw new FaasError('FAAS_TIMEOUT', `no time left to call "${name}" before the caller's deadline`, { details: { function: name } });
    const index = scope.calls++;
    let result;
    try {
      result = await this.o.invoker.invoke(name, {
        data,
        correlationId: scope.ctx.correlationId,
        parentInvocationId: scope.ctx.invocationId,
        chain: scope.ctx.chain,
        source: `faas://${scope.fn}`,
        type: 'faas.call',
        timeoutMs: budget,
        extensions: { call: { caller: scope.fn, callerInvocationId: scope.ctx.invocationId, depth: chain.length } },
        ...(scope.ctx.fence !== undefined ? { fence: `${scope.ctx.fence}>${index}` } : {}),
      });
    } catch (err) {
      // Refused before running: no such function, the node stopped.
      if (err instanceof FaasError) throw new FaasError(err.code, err.message, { details: { function: name } });
      throw err;
    }
    if (result.error !== undefined) {
      const e = result.error;
      throw new FaasError(e.code, e.message, { details: { function: name, invocationId: result.invocationId, ...(e.guestName !== undefined ? { name: e.guestName } : {}) } });
    }
    return result.resultJson ?? 'null';
  }

  async invokeAsync(scope: Scope, args: unknown[]): Promise<string> {
    const { name, data } = parseCall(args);
    scope.calls++;
    const { invocationId } = await this.o.queue.enqueue(name, {
      data,
      correlationId: scope.ctx.correlationId,
      parentInvocationId: scope.ctx.invocationId,
      source: `faas://${scope.fn}`,
      type: 'faas.call.async',
    });
    return JSON.stringify(invocationId);
  }
}

function parseCall(args: unknown[]): { name: string; data: unknown } {
  const [name, payload] = args;
  if (typeof name !== 'string' || !FUNCTION_NAME.test(name)) {
    throw new FaasError('FAAS_CALL_INVALID', `"${String(name)}" is not a function name (lower-case letters, digits and dashes, starting with a letter)`);
  }
  if (typeof payload !== 'string') throw new FaasError('FAAS_CALL_INVALID', 'the payload must be a JSON value');
  if (Buffer.byteLength(payload) > CALL_PAYLOAD_BYTES) throw new FaasError('FAAS_CALL_INVALID', `the payload is over ${CALL_PAYLOAD_BYTES} bytes`);
  return { name, data: JSON.parse(payload) as unknown };
}
