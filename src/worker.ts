/**
 * The worker entry (wrangler.jsonc `main`). It
 * - refuses a request whose Host makes no URL (400) or is none of the app's (421, see app-hosts.ts);
 * - exports the Durable Objects: the SDK's `Sandbox` (one per sandbox, with its container) and our
 *   `SandboxCoordinator` (one per sandbox: its state, boot, idle TTL and status sockets), the
 *   `StartGate`s (start limits), `Capacity` (which sandboxes run, and which may make room) and
 *   `SavedEdits` (a visitor's edits, kept while their sandboxes sleep) and `SandboxPool` (a
 *   template's sandboxes started ahead of visitors);
 * - answers preview hosts (`{port}-{id}-{token}.{host}`) from the sandbox before SvelteKit's
 *   generated worker sees them: that worker serves static assets by path and answers from
 *   `caches.default` before any hook runs, so a preview host would otherwise get the app's own
 *   /robots.txt, or a cached copy of what the sandbox served earlier. The whole preview namespace
 *   goes there, so that a host that only looks like a preview (port 3000, an overlong ID) gets 404
 *   rather than the app;
 * - hands every other request to SvelteKit.
 */
import { Sandbox } from '@cloudflare/sandbox';
import kit from '../.svelte-kit/cloudflare/_worker.js';
import { refuseHost } from './lib/server/app-hosts.ts';
import { answerPreview, type PreviewEnv } from './lib/server/preview-route.ts';
import { isPreviewNamespace } from './lib/server/sandbox/rules.ts';

export { Sandbox };
export { SandboxCoordinator } from './lib/server/durable-objects/coordinator.ts';
export { StartGate } from './lib/server/durable-objects/start-gate.ts';
export { Capacity } from './lib/server/durable-objects/capacity.ts';
export { SavedEdits } from './lib/server/durable-objects/saved-edits.ts';
export { SandboxPool } from './lib/server/durable-objects/pool.ts';

export default {
	async fetch(request: Request, env: PreviewEnv & { APP_HOSTS?: string }, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response> {
		const refusal = refuseHost(request, env.APP_HOSTS);
		if (refusal) return refusal;
		if (isPreviewNamespace(new URL(request.url).host)) return answerPreview(request, env, ctx);
		return kit.fetch(request, env, ctx);
	}
};
