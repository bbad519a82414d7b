/**
 * The table of webhook routes: the webhook plugin registers one per trigger, the gateway's webhook
 * scope looks requests up here (fastify cannot add routes after listening, so one catch-all route
 * dispatches). Paths are unique across functions; a second registration of a path is refused.
 */
import { FaasError } from '../core/errors.ts';

export interface WebhookRequest {
  method: string;
  /** The path below /hooks/, without a leading slash. */
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  /** The body exactly as received (signatures are computed over it). */
  rawBody: Buffer;
  /** Remote address, for logs. */
  ip: string;
}

export interface WebhookResponse {
  status: number;
  headers?: Record<string, string>;
  /** A string or Buffer is sent as is; anything else as JSON. */
  body?: unknown;
}

export interface WebhookRoute {
  fn: string;
  methods: readonly string[];
  maxBodyBytes: number;
  handle(req: WebhookRequest): Promise<WebhookResponse>;
}

export class WebhookRoutes {
  private readonly routes = new Map<string, WebhookRoute>();

  /** Register `path`; returns the function that unregisters it. */
  register(path: string, route: WebhookRoute): () => void {
    const existing = this.routes.get(path);
    if (existing !== undefined && existing.fn !== route.fn) {
      throw new FaasError('FAAS_MANIFEST_INVALID', `webhook path "/hooks/${path}" is already served by function "${existing.fn}"`);
    }
    this.routes.set(path, route);
    return () => {
      if (this.routes.get(path) === route) this.routes.delete(path);
    };
  }

  lookup(path: string): WebhookRoute | undefined {
    return this.routes.get(path);
  }

  /** The function serving `path`, if any (deploy-time conflict checks). */
  owner(path: string): string | undefined {
    return this.routes.get(path)?.fn;
  }

  /** Largest body any route accepts (the parser's hard limit; each route checks its own). */
  maxBodyBytes(): number {
    let max = 0;
    for (const r of this.routes.values()) max = Math.max(max, r.maxBodyBytes);
    return max;
  }
}
