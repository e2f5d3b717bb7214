/**
 * Answers a request for a preview host (`{port}-{id}-{token}.{app host}`) — used by the worker
 * entry in workerd and by hooks.server.ts — and never lets it fall through to the app's own pages.
 *
 * A 410 means the sandbox's container is gone (a restart, or it slept) while its token is still
 * valid: instead of leaving a dead iframe, the sandbox is booted again and re-exposed under the
 * same URL, and the visitor gets a page that refreshes itself until the app is back (or, for a
 * request that does not ask for HTML, a 503 to retry).
 */
import { parsePreviewHost } from './sandbox/rules';

/** Carries the worker's per-isolate key on its internal revive call (see routes/api/sandbox/[id]/revive). */
export const REVIVE_KEY_HEADER = 'x-preview-revive-key';

export interface PreviewRouteOptions {
	proxy: (request: Request) => Promise<Response | null>;
	/** Boots the sandbox again; `appHost` is the host preview URLs hang off. */
	revive: (sandboxId: string, appHost: string) => Promise<void>;
}

const json = (status: number, body: { error: string; code: string }) => Response.json(body, { status });

export async function routePreview(request: Request, { proxy, revive }: PreviewRouteOptions): Promise<Response> {
	const host = new URL(request.url).host;
	const route = parsePreviewHost(host);
	if (!route) return json(404, { error: 'Not a preview host', code: 'INVALID_TOKEN' });

	let response: Response | null;
	try {
		response = await proxy(request);
	} catch (error) {
		console.error('[preview] proxying failed', error);
		return json(502, { error: 'The preview is not reachable right now', code: 'PREVIEW_UNAVAILABLE' });
	}
	// Guard against anything that is not a real Response (older SDKs returned other truthy values).
	if (!(response instanceof Response)) {
		return json(404, { error: 'Access denied: Invalid token or port not exposed', code: 'INVALID_TOKEN' });
	}
	if (response.status !== 410) return response;

	await revive(route.sandboxId, host.slice(host.indexOf('.') + 1));
	const headers = { 'retry-after': '2', 'cache-control': 'no-store' };
	if (!request.headers.get('accept')?.includes('text/html')) {
		return Response.json({ error: 'The sandbox is waking up; retry shortly', code: 'SANDBOX_WAKING' }, { status: 503, headers });
	}
	return new Response(WAKING_PAGE, { status: 503, headers: { ...headers, 'content-type': 'text/html; charset=utf-8' } });
}

const WAKING_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>Waking the sandbox up…</title>
<style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#5f6070}</style></head>
<body><p>The sandbox stopped while idle. Waking it up — this page reloads by itself.</p></body>
</html>`;
