/**
 * The worker entry (wrangler.jsonc `main`). It
 * - re-exports the Sandbox Durable Object class that @cloudflare/sandbox provides;
 * - answers preview hosts (`{port}-{id}-{token}.{host}`) from the sandbox before SvelteKit's
 *   generated worker sees them: that worker serves static assets by path and answers from
 *   `caches.default` before any hook runs, so a preview host would otherwise get the app's own
 *   /robots.txt, or a cached copy of what the sandbox served earlier;
 * - hands every other request to SvelteKit.
 */
import { proxyToSandbox, Sandbox } from '@cloudflare/sandbox';
import kit from '../.svelte-kit/cloudflare/_worker.js';
import { createLocalBackend, localBackendConfigFrom } from '../sandbox/local/client.ts';
import { parsePreviewHost } from './lib/server/sandbox/rules.ts';

export { Sandbox };

interface WorkerEnv {
	Sandbox: Parameters<typeof proxyToSandbox>[1]['Sandbox'];
	/** Set by `npm run preview` without Docker: sandboxes come from the local runtime instead. */
	LOCAL_SANDBOX_URL?: string;
	LOCAL_SANDBOX_SECRET?: string;
}

async function preview(request: Request, env: WorkerEnv): Promise<Response> {
	try {
		const response = env.LOCAL_SANDBOX_URL
			? await createLocalBackend(localBackendConfigFrom({ ...env })).proxyPreview(request)
			: await proxyToSandbox(request, env);
		if (response instanceof Response) return response;
	} catch (error) {
		console.error('[preview] proxying failed', error);
		return Response.json({ error: 'The preview is not reachable right now', code: 'PREVIEW_UNAVAILABLE' }, { status: 502 });
	}
	return Response.json({ error: 'Access denied: Invalid token or port not exposed', code: 'INVALID_TOKEN' }, { status: 404 });
}

export default {
	async fetch(request: Request, env: WorkerEnv, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response> {
		if (parsePreviewHost(new URL(request.url).host)) return preview(request, env);
		return kit.fetch(request, env, ctx);
	}
};
