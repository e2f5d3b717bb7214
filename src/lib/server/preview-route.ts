/**
 * Answers a request for a preview host (`{port}-{id}-{token}.{app host}`) from the sandbox, in
 * workerd: the worker entry (src/worker.ts, and the companion worker `npm run dev` runs) calls it
 * before SvelteKit sees the request, and it never lets one fall through to the app's own pages.
 *
 * - Previews are private (preview-access.ts): a request without this host's preview cookie is
 *   answered only if the visitor made the preview public, and 401 otherwise; one for a host the
 *   coordinator never issued gets the SDK's own 404. `/__preview_access` redeems a ticket for the
 *   cookie. The app's cookies and the preview cookie never reach the sandbox.
 * - A request the sandbox answers counts as use of it (one the SDK refuses for its token does not).
 * - A 410 means the sandbox's container is gone (it slept, or restarted) while its token is still
 *   valid: instead of leaving a dead iframe, the coordinator boots it again under the same URL, and
 *   the visitor gets a page that refreshes itself until the app is back (or, for a request that
 *   does not ask for HTML, a 503 to retry) — unless the sandbox failed or was stopped: then a 410.
 * - A request that reached no server in the sandbox (the SDK's own 500s, a thrown error) is a 502
 *   with the coordinator's diagnosis of why (app-problems.ts): a page for a browser, which reloads
 *   itself, and JSON otherwise. It is not the app's 500: that passes through, and is reported, as is
 *   every page load the app answers (`report`).
 * - The browser revalidates every answer but immutable ones, whatever the app says (`revalidateAlways`).
 */
import { proxyToSandbox } from '@cloudflare/sandbox';
import * as v from 'valibot';
import type { CoordinatorApi, CoordinatorNamespace, PreviewDiagnosis } from './durable-objects/contract';
import { AccessRequest, checkPreviewCookie, PREVIEW_ACCESS_PATH, previewCookie, privatePreview, spentTicket, withoutOurCookies } from './preview-access';
import { unreachableText, type SandboxNamespace } from './sandbox/cloudflare';
import { parsePreviewHost } from './sandbox/rules';

export interface PreviewEnv {
	Sandbox: SandboxNamespace;
	Coordinator: CoordinatorNamespace;
	/** Signs preview cookies (and, in the app, visitor cookies). */
	SESSION_SECRET?: string;
}

type Context = { waitUntil(promise: Promise<unknown>): void };

/** A host's use, or its app's server error, is reported at most this often by one isolate (a page load is dozens of requests). */
const TOUCH_INTERVAL_MS = 5_000;
const lastTouched = new Map<string, number>();
const lastFailureReported = new Map<string, number>();
/** The requests (`{host} {method} {path}`) the app last answered with a 5xx in this isolate. */
const failedHere = new Set<string>();
/** How soon a preview the app did not answer is worth loading again. */
const RETRY_SECONDS = 3;

const json = (status: number, body: { error: string; code: string }, headers?: HeadersInit) => Response.json(body, { status, headers });

export async function answerPreview(request: Request, env: PreviewEnv, ctx: Context): Promise<Response> {
	const url = new URL(request.url);
	const host = url.host.toLowerCase();
	const route = parsePreviewHost(host);
	if (!route) return json(404, { error: 'Not a preview host', code: 'INVALID_TOKEN' });
	const coordinator = env.Coordinator.get(env.Coordinator.idFromName(route.sandboxId));
	const secret = env.SESSION_SECRET;
	if (!secret) return json(500, { error: 'SESSION_SECRET is not set: it signs preview cookies', code: 'MISCONFIGURED' });

	if (url.pathname === PREVIEW_ACCESS_PATH) {
		const access = v.safeParse(AccessRequest, Object.fromEntries(url.searchParams));
		if (!access.success) return json(400, { error: access.issues[0].message, code: 'BAD_TICKET' });
		const { ticket, to } = access.output;
		if (await coordinator.redeemPreviewTicket(host, ticket)) return redirectWithCookie(to, await previewCookie(url, secret));
		// (An iframe drawn again with the ticket its page came with: the browser is in already.)
		if (await checkPreviewCookie(request, url, secret)) return goOn(to);
		return spentTicket();
	}
	const cookie = await checkPreviewCookie(request, url, secret);
	if (!cookie) {
		const access = await coordinator.previewAccessOf(host);
		if (access === null) return json(404, { error: 'Not a preview host', code: 'INVALID_TOKEN' });
		if (access === 'private') return privatePreview(request);
	}
	const response = await proxyPreview(withoutOurCookies(request), env, coordinator, host, ctx, cookie !== null);
	if (response.status === 101) return response; // a WebSocket: nothing to cache, no cookie to carry
	const answer = new Response(response.body, response);
	revalidateAlways(answer.headers);
	// A navigation with a cookie in its second hour-half gets a fresh one.
	if (cookie === 'renew' && isNavigation(request)) answer.headers.append('set-cookie', await previewCookie(url, secret));
	return answer;
}

/**
 * A preview shows what the app answers now: after an edit or a restart, the iframe must not show
 * what the browser kept from before, whatever caching the app asks for (it is written for its
 * production, not for a preview). So the browser may keep an answer but must ask again before using
 * it, except one marked `immutable` (a content-hashed asset, such as Vite's dependencies); one
 * marked `no-store` (by the app, or by this route) it keeps not at all.
 */
function revalidateAlways(headers: Headers) {
	const directives = headers.get('cache-control') ?? '';
	if (/\b(immutable|no-store)\b/.test(directives)) return;
	headers.set('cache-control', 'no-cache');
}

function redirectWithCookie(to: string, cookie: string): Response {
	return new Response(null, { status: 303, headers: { location: to, 'set-cookie': cookie, 'cache-control': 'no-store' } });
}

function goOn(to: string): Response {
	return new Response(null, { status: 303, headers: { location: to, 'cache-control': 'no-store' } });
}

/** The sandbox's answer, with the SDK's failures told apart and a gone container woken. `owner`: the request has the preview cookie. */
async function proxyPreview(request: Request, env: PreviewEnv, coordinator: CoordinatorApi, host: string, ctx: Context, owner: boolean): Promise<Response> {
	let response: Response | null;
	try {
		response = await proxyToSandbox(request, env);
	} catch (error) {
		console.error('[preview] proxying failed', error);
		response = null;
	}
	if (!(response instanceof Response) || (await unreachableText(response)) !== null) {
		const { log, ...diagnosis } = await coordinator.diagnosePreview(host);
		// The app's output is its owner's to read (as its logs are): a public preview shows why, not what it wrote.
		return unreachable(request, { ...diagnosis, log: owner ? log : [] });
	}
	if (await isInvalidToken(response)) return response; // a wrong or guessed host: no use of anything
	report(request, response, host, coordinator, ctx);
	if (response.status !== 410) return response;

	if (!(await coordinator.revive())) {
		// Failed or stopped: no wake-up is coming, so no page that waits for one.
		return json(410, { error: 'This sandbox has stopped; start a new one from the app', code: 'SANDBOX_STOPPED' });
	}
	const headers = { 'retry-after': '2', 'cache-control': 'no-store' };
	if (!request.headers.get('accept')?.includes('text/html')) {
		return json(503, { error: 'The sandbox is waking up; retry shortly', code: 'SANDBOX_WAKING' }, headers);
	}
	return new Response(WAKING_PAGE, { status: 503, headers: { ...headers, 'content-type': 'text/html; charset=utf-8' } });
}

/**
 * No server in the sandbox answered: the coordinator's diagnosis instead (app-problems.ts), as a
 * page that reloads itself while a retry may help, for a browser; as JSON for anything else.
 */
function unreachable(request: Request, { message, log, retry }: PreviewDiagnosis): Response {
	const headers = { 'cache-control': 'no-store', ...(retry && { 'retry-after': String(RETRY_SECONDS) }) };
	if (!request.headers.get('accept')?.includes('text/html')) return json(502, { error: message, code: 'PREVIEW_UNAVAILABLE' }, headers);
	const lines = log.map((line) => line.text).join('\n');
	const body = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8">${retry ? `<meta http-equiv="refresh" content="${RETRY_SECONDS}">` : ''}<title>The preview cannot reach the app</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#2b2d3a}pre{background:#f6f6f9;padding:0.75rem;overflow:auto;max-height:60vh}p.note{color:#5f6070}</style></head>
<body><h1>The preview cannot reach the app</h1><p role="alert">${escapeHtml(message)}</p>
${lines ? `<p>What the app wrote last:</p><pre>${escapeHtml(lines)}</pre>` : ''}
${retry ? '<p class="note">This page reloads by itself.</p>' : ''}</body>
</html>`;
	return new Response(body, { status: 502, headers: { ...headers, 'content-type': 'text/html; charset=utf-8' } });
}

/**
 * Tells the coordinator what the app answered: each page load and, once, the next answer to a
 * request that failed here (either clears a problem the app has got over), and a 5xx (at most one per
 * host every few seconds per isolate); anything else only counts as use (`touch`).
 */
function report(request: Request, response: Response, host: string, coordinator: CoordinatorApi, ctx: Context) {
	const navigation = isNavigation(request);
	const answer = { status: response.status, method: request.method, path: new URL(request.url).pathname, navigation };
	const key = `${host} ${answer.method} ${answer.path}`;
	const failed = answer.status >= 500;
	const recovered = !failed && failedHere.delete(key);
	if (failed) {
		if (failedHere.size > 1000) failedHere.clear();
		failedHere.add(key);
	}
	if (!navigation && !recovered && !(failed && due(lastFailureReported, host))) return touch(host, () => coordinator.touchPreview(host), ctx);
	ctx.waitUntil(coordinator.previewAnswered(host, answer).catch((error) => console.error('[preview] reporting an answer failed', error)));
}

/** Whether `host`'s last time in `times` is long enough ago (and, if so, marks now). */
function due(times: Map<string, number>, host: string): boolean {
	const now = Date.now();
	if (now - (times.get(host) ?? 0) < TOUCH_INTERVAL_MS) return false;
	if (times.size > 1000) times.clear();
	times.set(host, now);
	return true;
}

function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The SDK's answer for a host whose token or port it does not know (an app's own 404 is not JSON like it). */
async function isInvalidToken(response: Response): Promise<boolean> {
	if (response.status !== 404 || !response.headers.get('content-type')?.includes('application/json')) return false;
	return (await response.clone().text()).includes('"INVALID_TOKEN"');
}

function touch(host: string, report: () => Promise<void>, ctx: Context) {
	if (!due(lastTouched, host)) return;
	ctx.waitUntil(report().catch((error) => console.error('[preview] reporting use failed', error)));
}

const WAKING_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>Waking the sandbox up…</title>
<style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#5f6070}</style></head>
<body><p>The sandbox stopped while idle. Waking it up — this page reloads by itself.</p></body>
</html>`;

/** A page load in a tab or an iframe, not one of its subresources (as the browser says, in `Sec-Fetch-Dest`). */
function isNavigation(request: Request): boolean {
	return ['document', 'iframe'].includes(request.headers.get('sec-fetch-dest') ?? '');
}
