/**
 * Private previews: a preview host answers only a browser holding its preview cookie — or anyone,
 * once its visitor has made it public.
 *
 * How the owner's browser gets the cookie, without the preview ever seeing the app's own cookies:
 *   1. the app's page links the preview (iframe, "Open in a new tab") through
 *      `/sandbox/{id}/preview`, which checks the visitor owns the sandbox, has the coordinator issue
 *      a one-time ticket (random, a minute to live), and redirects to
 *   2. `{preview host}/__preview_access?ticket=…&to=/path`, which the worker answers itself — the
 *      sandbox never sees it: the coordinator redeems the ticket (once), and the answer sets a
 *      cookie for that preview host alone and redirects to `to`. A spent ticket takes a browser
 *      that has the cookie already on to `to` all the same (it gains nothing it had not).
 * A page of the sandbox that loads with the sandbox ready gets a ticket with its state, and its
 * iframe starts at 2 (one round trip fewer, for a visitor whose sandbox was ready at once).
 * The cookie holds an expiry and an HMAC of the preview host and expiry (SESSION_SECRET): it is
 * checked without asking anyone, is worth nothing on another host, and is renewed on navigation.
 *
 * Cookie attributes, by how the browser sees the two hosts:
 * - `__Host-` prefix + `Secure` + `HttpOnly` wherever the origin is secure (https, *.localhost):
 *   the sandbox's own pages can neither read it nor set one in its place.
 * - The preview iframe on `localhost` is cross-site (`localhost` is a site of its own, each
 *   `x.localhost` another), so there the cookie is `SameSite=None; Partitioned` — partitioned by the
 *   app's site, which is what browsers that block third-party cookies still keep. Under a domain
 *   (`x.sandbox.example.com` in `sandbox.example.com`) the two are the same site: `SameSite=Lax`.
 */
import * as v from 'valibot';
import { cookieValues, isSecureOrigin, withoutCookies } from './cookies';
import type { PreviewTicket } from './durable-objects/contract';
import { sameText, signature } from './signing';

export const PREVIEW_ACCESS_PATH = '/__preview_access';

/** How long a preview cookie lasts; one used for a navigation in its second half is renewed. */
const COOKIE_TTL_S = 3600;
const MAC_HEX = 32;

/** Where on the preview to go once in: a path (not `//host`, which a browser reads as another site). */
export const PreviewPath = v.optional(
	v.pipe(v.string(), v.maxLength(2048), v.regex(/^\/(?![/\\])\S*$/, 'to must be a path on the preview, such as /')),
	'/'
);

/** What redeeming a ticket takes: the ticket, and where on the preview to go next. */
export const AccessRequest = v.object({
	ticket: v.pipe(v.string('The link has no ticket'), v.regex(/^[0-9a-f]{32}$/, 'The ticket is malformed')),
	to: PreviewPath
});

/** Where `ticket` takes a browser into its preview, and on to `to` there. */
export function ticketUrl({ previewUrl, ticket }: PreviewTicket, to = '/'): string {
	const url = new URL(PREVIEW_ACCESS_PATH, previewUrl);
	url.search = new URLSearchParams({ ticket, to }).toString();
	return url.href;
}

export function previewCookieName(previewUrl: URL): string {
	return isSecureOrigin(previewUrl) ? '__Host-sandbox-preview' : 'sandbox-preview';
}

/** Our cookies, which never reach a sandbox: the app's (in case a browser sends them) and the preview's. */
const OUR_COOKIES = ['__Host-visitor', 'visitor', '__Host-sandbox-preview', 'sandbox-preview'];

/** A `Set-Cookie` value giving this preview host's cookie, valid for the next hour. */
export async function previewCookie(previewUrl: URL, secret: string): Promise<string> {
	const expires = Math.floor(Date.now() / 1000) + COOKIE_TTL_S;
	const value = `${expires}.${await signature(secret, `preview:${previewUrl.hostname}:${expires}`, MAC_HEX)}`;
	const attributes = ['Path=/', `Max-Age=${COOKIE_TTL_S}`, 'HttpOnly'];
	if (isSecureOrigin(previewUrl)) attributes.push('Secure');
	// Two labels, `x.localhost`: the app's host is a site of its own, and the iframe is cross-site.
	attributes.push(previewUrl.hostname.split('.').length === 2 ? 'SameSite=None; Partitioned' : 'SameSite=Lax');
	return `${previewCookieName(previewUrl)}=${value}; ${attributes.join('; ')}`;
}

/** Whether the request holds this preview host's cookie: `renew` when it is in its second half. */
export async function checkPreviewCookie(request: Request, previewUrl: URL, secret: string): Promise<'valid' | 'renew' | null> {
	const values = cookieValues(request.headers.get('cookie'), previewCookieName(previewUrl));
	const now = Date.now() / 1000;
	for (const value of values) {
		const match = /^(\d{10})\.([0-9a-f]{32})$/.exec(value);
		if (!match || Number(match[1]) <= now) continue;
		if (sameText(await signature(secret, `preview:${previewUrl.hostname}:${match[1]}`, MAC_HEX), match[2])) {
			return Number(match[1]) - now < COOKIE_TTL_S / 2 ? 'renew' : 'valid';
		}
	}
	return null;
}

/** The request as the sandbox gets it: without our cookies (nothing else is changed). */
export function withoutOurCookies(request: Request): Request {
	const cookie = request.headers.get('cookie');
	if (!cookie) return request;
	const kept = withoutCookies(cookie, OUR_COOKIES);
	if (kept === cookie) return request;
	const headers = new Headers(request.headers);
	if (kept) headers.set('cookie', kept);
	else headers.delete('cookie');
	return new Request(request, { headers });
}

/** What a browser without access is told: the preview is private, and how its owner opens it. */
export function privatePreview(request: Request): Response {
	const message = 'This preview is private. Its owner can open it from the app, or make it public there.';
	const headers = { 'cache-control': 'no-store', 'www-authenticate': 'Cookie realm="sandbox preview"' };
	if (!request.headers.get('accept')?.includes('text/html')) {
		return Response.json({ error: message, code: 'PREVIEW_PRIVATE' }, { status: 401, headers });
	}
	return new Response(page('Private preview', message), { status: 401, headers: { ...headers, 'content-type': 'text/html; charset=utf-8' } });
}

/** A ticket that was used already, expired or never issued. */
export function spentTicket(): Response {
	const message = 'This link to the preview has been used or has expired. Open the preview again from the app.';
	return new Response(page('Link expired', message), { status: 403, headers: { 'cache-control': 'no-store', 'content-type': 'text/html; charset=utf-8' } });
}

const page = (title: string, message: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#5f6070;margin:0 1rem}</style></head>
<body><p>${message}</p></body>
</html>`;
