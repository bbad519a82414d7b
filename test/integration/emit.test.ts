/**
 * ctx.emit (choreography) through a real runtime, on the embedded log and real Kafka: a pipeline
 * orders → payment and stock requests → an order-status view in state; the outbox is published only
 * when an invocation succeeds; emitted records carry stable event ids and the correlation chain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/create-runtime.ts';
import { testKafkaBrokers } from '../support/env.ts';
import { deployFunction, eventually, readTopic, startRuntime, uniqueName } from '../support/runtime.ts';

describe.each(['embedded', 'kafka'] as const)('ctx.emit on %s', (backend) => {
  let rt: Runtime & { url: string };
  beforeAll(async () => {
    rt = await startRuntime(backend === 'kafka' ? { KAFKA_BROKERS: testKafkaBrokers().join(',') } : {});
  });
  afterAll(async () => {
    await rt?.stop();
  });

  const deploy = (name: string, source: string, manifest: Record<string, unknown> = {}) => deployFunction(rt, name, source, manifest);
  const readAll = (topic: string, expected: number) => readTopic(rt.eventLog, topic, expected);

  it('a pipeline: orders → payment and stock requests → an order-status view kept in state', async () => {
    const [router, status] = [uniqueName('router'), uniqueName('status')];
    const [orders, payments, stock] = [uniqueName('orders'), uniqueName('payments'), uniqueName('stock')];
    // Triggered by two topics whose consumers run concurrently: each writes its own field (writes are
    // atomic per invocation, not serialised across invocations, so no read-modify-write of one
    // object). Invoked directly (no event.kafka), it answers the view.
    await deploy(status, `export default async (e, ctx) => {
      if (!e.kafka) {
        const ids = Object.keys(await ctx.state.hgetall('orders'));
        const view = {};
        for (const id of ids) view[id] = await ctx.state.hgetall('order:' + id);
        return view;
      }
      const { orderId } = e.data;
      await ctx.state.hset('order:' + orderId, e.kafka.topic === '${payments}' ? 'payment' : 'stock', 'requested');
      await ctx.state.hset('orders', orderId, true);
      return null;
    }`, { triggers: [{ type: 'topic', topic: payments, start: 'earliest' }, { type: 'topic', topic: stock, start: 'earliest' }] });
    await deploy(router, `export default async (e, ctx) => {
      const o = e.data;
      await ctx.emit('${payments}', { orderId: o.id, amount: o.total }, { key: o.id });
      await ctx.emit('${stock}', { orderId: o.id, items: o.items }, { key: o.id });
      return null;
    }`, { triggers: [{ type: 'topic', topic: orders, start: 'earliest' }] });
    const N = 12;
    await rt.gateway.inject({ method: 'POST', url: `/v1/topics/${orders}/records`, payload: { records: Array.from({ length: N }, (_, i) => ({ key: `o-${i}`, value: { id: `o-${i}`, total: i * 10, items: ['sku-1'] } })) } });
    const view = await eventually(async () => {
      const r = await rt.invoker.invoke(status, { data: null });
      const v = JSON.parse(r.resultJson ?? '{}') as Record<string, { payment?: string; stock?: string }>;
      return Object.values(v).filter((o) => o.payment && o.stock).length >= N ? v : undefined;
    }, 30_000, 200);
    expect(Object.keys(view).sort()).toEqual(Array.from({ length: N }, (_, i) => `o-${i}`).sort());
  });

  it('publishes the outbox only when the invocation succeeds, with stable ids and the correlation chain', async () => {
    const fn = uniqueName('emitter');
    const out = uniqueName('out');
    await deploy(fn, `export default async (e, ctx) => {
      await ctx.emit('${out}', { n: e.data.n }, { key: 'k', headers: { kind: 'test' } });
      if (e.data.fail) throw new Error('after emitting');
      return null;
    }`);
    const failed = await rt.invoker.invoke(fn, { data: { n: 1, fail: true } });
    expect(failed.error?.code).toBe('FAAS_HANDLER_ERROR');
    // The same fenced input twice (a redelivery): two copies with one event id, deduplicable.
    await rt.invoker.invoke(fn, { data: { n: 2 }, fence: 'g/in/0/5', eventId: 'in/0/5', correlationId: 'corr-1' });
    await rt.invoker.invoke(fn, { data: { n: 2 }, fence: 'g/in/0/5', eventId: 'in/0/5', correlationId: 'corr-1' });
    const records = await readAll(out, 2);
    expect(records.map((r) => JSON.parse(r.value?.toString() ?? '{}') as { n: number })).toEqual([{ n: 2 }, { n: 2 }]); // the failed n:1 never left
    for (const r of records) {
      expect(r.key?.toString()).toBe('k');
      expect(r.headers).toMatchObject({ kind: 'test', 'faas-event-id': 'g/in/0/5#0', 'faas-correlation-id': 'corr-1', 'faas-causation-id': 'in/0/5', 'faas-source-function': fn });
    }
  });

  it('refuses a bad emit with its code; the handler may catch it', async () => {
    const fn = uniqueName('bad-emit');
    await deploy(fn, `export default async (e, ctx) => {
      try { await ctx.emit('not a topic!', 1); } catch (err) { return { caught: err.code }; }
      return { caught: null };
    }`);
    const r = await rt.invoker.invoke(fn, { data: null });
    expect(JSON.parse(r.resultJson ?? 'null')).toEqual({ caught: 'FAAS_EMIT_INVALID' });
  });
});
