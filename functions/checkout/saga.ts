/**
 * The saga mechanics behind checkout: run steps with ctx.invoke, remember each done step's undo,
 * and on failure run the undos newest first. Progress goes to the hash order:<orderId>:
 *
 *   <step>           'done' | 'failed'            (validate, reserve, charge, ship)
 *   <fn>.<undo>      'done' | 'failed'            (payments.refund, inventory.release)
 *   status           the outcome (SagaStatus)
 *   result           the answer given, replayed if the same order is posted again
 *
 * State writes land together when the invocation ends, so a reader sees a saga finished or not
 * at all; the callees' writes are theirs and land as each call returns.
 */
import type { Context, FaasCallError, Json } from 'faas-runtime/sdk';

/**
 * confirmed: every step done. rejected: a step refused the order before anything needed undoing.
 * failed: a step failed and every step done before it was undone. compensation-failed: an undo
 * failed too (see compensationFailed: those need a human or a retry).
 */
export type SagaStatus = 'confirmed' | 'rejected' | 'failed' | 'compensation-failed';

export type SagaResult = {
  orderId: string;
  status: SagaStatus;
  /** Undos that ran, in the order they ran (newest step first), e.g. ['payments.refund', 'inventory.release']. */
  compensated: string[];
  failedStep?: string;
  /** The failed step's error message, e.g. 'card declined'. */
  reason?: string;
  /** Its code (docs/ERRORS.md): FAAS_HANDLER_ERROR when the callee threw, FAAS_TIMEOUT, … */
  code?: string;
  compensationFailed?: { undo: string; code: string; reason: string }[];
  [detail: string]: Json | undefined;
};

/** An undo: the action to send to the step's function, e.g. { action: 'refund', orderId }. */
export type Undo = { action: string; [field: string]: Json };

class StepFailed extends Error {
  readonly step: string;
  readonly code: string;

  constructor(step: string, cause: unknown) {
    const err = cause as Partial<FaasCallError>;
    super(err.message ?? String(cause));
    this.step = step;
    // A failed ctx.invoke carries the callee's code; anything else is checkout's own bug.
    this.code = err.name === 'FaasError' && err.code !== undefined ? err.code : 'CHECKOUT_ERROR';
  }
}

export class Saga {
  private readonly ctx: Context;
  private readonly orderId: string;
  private readonly key: string;
  /** Undos of the steps done so far, oldest first. */
  private readonly undos: { label: string; fn: string; payload: Undo }[] = [];

  constructor(ctx: Context, orderId: string) {
    this.ctx = ctx;
    this.orderId = orderId;
    this.key = `order:${orderId}`;
  }

  /** The answer given the last time this order was checked out, if it was. */
  async previous(): Promise<SagaResult | null> {
    return this.ctx.state.hget<SagaResult>(this.key, 'result');
  }

  /**
   * Call `fn` for step `name` and answer its result. When it succeeds and `undo` is given, undo is
   * remembered for compensation. When it fails, this rejects with the step's failure.
   */
  async step<T>(name: string, fn: string, payload: Json, undo?: Undo): Promise<T> {
    let result: T;
    try {
      result = await this.ctx.invoke<T>(fn, payload);
    } catch (err) {
      const failure = new StepFailed(name, err);
      this.ctx.log.info(`${this.orderId} ${name} (${fn}): failed, ${failure.code}: ${failure.message}`);
      await this.ctx.state.hset(this.key, name, 'failed');
      throw failure;
    }
    this.ctx.log.info(`${this.orderId} ${name} (${fn}): done`);
    await this.ctx.state.hset(this.key, name, 'done');
    if (undo !== undefined) this.undos.push({ label: `${fn}.${undo.action}`, fn, payload: undo });
    return result;
  }

  /** Every step succeeded. */
  async confirm(details: Record<string, Json>): Promise<SagaResult> {
    return this.finish({ orderId: this.orderId, status: 'confirmed', compensated: [], ...details });
  }

  /**
   * A step failed (or checkout itself threw): run the undos of the steps done, newest first. An
   * undo that fails is recorded and the others still run; nothing here throws.
   */
  async abort(err: unknown): Promise<SagaResult> {
    const failure = err instanceof StepFailed ? err : new StepFailed('checkout', err);
    const compensated: string[] = [];
    const compensationFailed: { undo: string; code: string; reason: string }[] = [];
    for (const undo of [...this.undos].reverse()) {
      try {
        await this.ctx.invoke(undo.fn, undo.payload);
        compensated.push(undo.label);
        this.ctx.log.info(`${this.orderId} compensate ${undo.label}: done`);
        await this.ctx.state.hset(this.key, undo.label, 'done');
      } catch (e) {
        const { code, message } = new StepFailed(undo.label, e);
        compensationFailed.push({ undo: undo.label, code, reason: message });
        this.ctx.log.error(`${this.orderId} compensate ${undo.label}: failed, ${code}: ${message}`);
        await this.ctx.state.hset(this.key, undo.label, 'failed');
      }
    }
    const refused = this.undos.length === 0 && failure.code === 'FAAS_HANDLER_ERROR';
    const status: SagaStatus = compensationFailed.length > 0 ? 'compensation-failed' : refused ? 'rejected' : 'failed';
    return this.finish({
      orderId: this.orderId,
      status,
      failedStep: failure.step,
      reason: failure.message,
      code: failure.code,
      compensated,
      ...(compensationFailed.length > 0 ? { compensationFailed } : {}),
    });
  }

  private async finish(result: SagaResult): Promise<SagaResult> {
    this.ctx.log.info(`${this.orderId}: ${result.status}`);
    await this.ctx.state.hset(this.key, 'status', result.status);
    await this.ctx.state.hset(this.key, 'result', result as Json);
    return result;
  }
}
