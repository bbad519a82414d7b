/**
 * A GitHub push webhook in async mode. Before this runs, the runtime has verified
 * X-Hub-Signature-256 (a bad signature never gets here), dropped redeliveries of the same
 * X-GitHub-Delivery, and written the request durably to the topic `github.pushes`, answering GitHub
 * 202. This handler then runs from that topic (commit after success, retries, dead letter), and any
 * other function can consume the same topic: functions/push-enricher does.
 */
import type { Handler, HttpResponse } from 'faas-runtime/sdk';

interface Commit {
  id: string;
  message: string;
  author?: { name?: string; username?: string };
}

/** The fields of GitHub's push payload this function reads. */
interface PushPayload {
  ref?: string;
  before?: string;
  after?: string;
  created?: boolean;
  deleted?: boolean;
  forced?: boolean;
  compare?: string;
  repository?: { full_name?: string };
  pusher?: { name?: string };
  commits?: Commit[];
  zen?: string;
}

const handler: Handler<PushPayload | null, HttpResponse> = async (event, ctx): Promise<HttpResponse> => {
  const kind = event.http?.headers['x-github-event'] ?? 'unknown';
  if (kind === 'ping') return { status: 200, body: { pong: true, zen: event.data?.zen ?? null } };
  if (kind !== 'push' || event.data === null) {
    return { status: 202, body: { ignored: kind, reason: 'this webhook handles push events only' } };
  }
  const push = event.data;
  const commits = push.commits ?? [];
  const branch = push.ref?.startsWith('refs/heads/') ? push.ref.slice('refs/heads/'.length) : null;
  const summary = {
    delivery: event.id,
    repository: push.repository?.full_name ?? null,
    ref: push.ref ?? null,
    branch,
    pusher: push.pusher?.name ?? null,
    before: push.before ?? null,
    after: push.after ?? null,
    created: push.created === true,
    deleted: push.deleted === true,
    forced: push.forced === true,
    compare: push.compare ?? null,
    commitCount: commits.length,
    authors: [...new Set(commits.map((c) => c.author?.username ?? c.author?.name ?? 'unknown'))],
    commits: commits.slice(0, 20).map((c) => ({ id: c.id.slice(0, 12), title: c.message.split('\n')[0] ?? '' })),
  };
  ctx.log.info(`push to ${summary.repository ?? '?'} ${summary.ref ?? '?'}: ${commits.length} commit(s) by ${summary.pusher ?? '?'}`);
  return { status: 200, body: summary };
};

export default handler;
