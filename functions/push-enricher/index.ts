/**
 * Reads the delivery records github-push's webhook wrote to `github.pushes` (one per verified,
 * de-duplicated request; keyed by delivery id) and derives statistics. Runs once per record, after
 * which its consumer group commits; a record it cannot read goes to faas.push-enricher.dlq.
 */
import type { Handler } from 'faas-runtime/sdk';

/** The ingest record the webhook trigger writes (version 1). */
interface Delivery {
  v: 1;
  method: string;
  headers: Record<string, string>;
  body: string;
  bodyEncoding: 'text' | 'base64';
  deliveryId: string;
  receivedAt: string;
}

interface Push {
  ref?: string;
  repository?: { full_name?: string };
  commits?: { id: string; message: string; added?: string[]; removed?: string[]; modified?: string[] }[];
}

const handler: Handler<Delivery> = async (event, ctx) => {
  const delivery = event.data;
  if (delivery.headers['x-github-event'] !== 'push' || delivery.bodyEncoding !== 'text') return { skipped: delivery.deliveryId };
  const push = JSON.parse(delivery.body) as Push;
  const commits = push.commits ?? [];
  const files = (k: 'added' | 'removed' | 'modified') => commits.reduce((n, c) => n + (c[k]?.length ?? 0), 0);
  const stats = {
    delivery: delivery.deliveryId,
    repository: push.repository?.full_name ?? null,
    ref: push.ref ?? null,
    commits: commits.length,
    filesAdded: files('added'),
    filesRemoved: files('removed'),
    filesModified: files('modified'),
    conventional: commits.filter((c) => /^(feat|fix|chore|docs|refactor|test)(\(.+\))?!?:/.test(c.message)).length,
    queuedMs: Date.now() - Date.parse(delivery.receivedAt),
  };
  ctx.log.info(JSON.stringify(stats));
  return stats;
};

export default handler;
