/**
 * Which requests may act for a visitor: only those from the app's own pages. `SameSite=Lax` on the
 * visitor cookie is not enough: preview hosts are subdomains of the app — the same site — so a page
 * that any sandbox serves can post to the app, or open its WebSocket, with the visitor's cookie.
 * Only the Origin tells the app's pages from theirs.
 */

/** Whether a WebSocket handshake comes from this app's own pages (not another site's). */
export function sameOrigin(origin: string | null | undefined, host: string | null | undefined): boolean {
	if (!origin) return true; // Not a browser: cookies decide.
	try {
		return new URL(origin).host === host;
	} catch {
		return false;
	}
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** What an HTML form can send without a CORS preflight — and so without the site's consent. */
const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

/**
 * Why a state-changing request must be refused as cross-site (for a 403), or null. SvelteKit makes
 * this check for form content types in production only — under `vite dev` another page could post
 * the stop and save actions with the visitor's cookie — so the app makes it itself, everywhere, and
 * for every content type: a foreign Origin is refused, and a form without an Origin too, as
 * SvelteKit does. Requests with neither an Origin nor a form body come from no browser form
 * (e.g. the worker's internal revive call); what they may do is up to their route.
 */
export function crossSiteProblem(request: Request, url: URL): string | null {
	if (!STATE_CHANGING.has(request.method)) return null;
	const origin = request.headers.get('origin');
	const type = request.headers.get('content-type')?.split(';')[0].trim().toLowerCase() ?? '';
	if (origin === url.origin || (origin === null && !FORM_TYPES.includes(type))) return null;
	return `Cross-site ${request.method} requests are forbidden: send them from this app's own pages`;
}
