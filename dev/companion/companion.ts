/**
 * The companion worker of `npm run dev` (dev/dev.ts runs it with `wrangler dev`): the app's
 * Durable Objects and preview route in workerd, for the app's pages in `vite dev` to reach through
 * wrangler's platform proxy. The same code as the deployed worker (src/worker.ts) but SvelteKit,
 * with the SDK's `Sandbox` getting its containers from the local engine.
 */
import { refuseHost } from '../../src/lib/server/app-hosts.ts';
import { answerPreview, type PreviewEnv } from '../../src/lib/server/preview-route.ts';
import { isPreviewNamespace } from '../../src/lib/server/sandbox/rules.ts';

export { SandboxCoordinator } from '../../src/lib/server/durable-objects/coordinator.ts';
export { StartGate } from '../../src/lib/server/durable-objects/start-gate.ts';
export { Capacity } from '../../src/lib/server/durable-objects/capacity.ts';
export { SavedEdits } from '../../src/lib/server/durable-objects/saved-edits.ts';
export { SandboxPool } from '../../src/lib/server/durable-objects/pool.ts';
export { Sandbox } from '../../engine/workerd/sandbox.ts';

export default {
	async fetch(request: Request, env: PreviewEnv & { APP_HOSTS?: string }, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response> {
		const refusal = refuseHost(request, env.APP_HOSTS);
		if (refusal) return refusal;
		if (isPreviewNamespace(new URL(request.url).host)) return answerPreview(request, env, ctx);
		return new Response('This worker hosts the sandboxes of `npm run dev`; the app itself is served by Vite.\n', { status: 404 });
	}
};
