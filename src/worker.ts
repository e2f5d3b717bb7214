/**
 * The worker entry (wrangler.jsonc `main`). It
 * - re-exports the Sandbox Durable Object class that @cloudflare/sandbox provides;
 * - answers preview hosts (`{port}-{id}-{token}.{host}`) from the sandbox before SvelteKit's
 *   generated worker sees them: that worker serves static assets by path and answers from
 *   `caches.default` before any hook runs, so a preview host would otherwise get the app's own
 *   /robots.txt, or a cached copy of what the sandbox served earlier. The whole preview namespace
 *   goes there, so that a host that only looks like a preview (port 3000, an overlong ID) gets 404
 *   rather than the app;
 * - hands every other request to SvelteKit.
 */
import { proxyToSandbox, Sandbox } from '@cloudflare/sandbox';
import kit from '../.svelte-kit/cloudflare/_worker.js';
import { REVIVE_KEY_HEADER, routePreview } from './lib/server/preview-route.ts';
import { isPreviewNamespace } from './lib/server/sandbox/rules.ts';

export { Sandbox };

interface WorkerEnv {
	Sandbox: Parameters<typeof proxyToSandbox>[1]['Sandbox'];
}
type Context = { waitUntil(promise: Promise<unknown>): void };

/**
 * Proves to the app's revive route that a call comes from this worker, not from the internet.
 * Made on first use: workerd allows no randomness at global scope.
 */
let reviveKey: string | undefined;

export default {
	async fetch(request: Request, env: WorkerEnv, ctx: Context): Promise<Response> {
		const url = new URL(request.url);
		if (!isPreviewNamespace(url.host)) return kit.fetch(request, env, ctx);

		return routePreview(request, {
			proxy: (preview) => proxyToSandbox(preview, env),
			// The manager lives in SvelteKit's part of the worker: ask it directly, with the key in
			// the env of this one call.
			revive: async (id, appHost) => {
				reviveKey ??= crypto.randomUUID();
				const revive = new Request(`${url.protocol}//${appHost}/api/sandbox/${encodeURIComponent(id)}/revive`, {
					method: 'POST',
					headers: { [REVIVE_KEY_HEADER]: reviveKey }
				});
				await kit.fetch(revive, { ...env, PREVIEW_REVIVE_KEY: reviveKey }, ctx);
			}
		});
	}
};
