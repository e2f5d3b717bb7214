/**
 * Who the visitor is: a random ID in a signed, HttpOnly, SameSite cookie, named `__Host-visitor`
 * wherever the browser treats the app's origin as secure (see `visitorCookieName`). Each sandbox's
 * coordinator records whose it is (`ownedBy`): anyone else is answered 404, as if it did not exist.
 *
 * Signing uses Web Crypto, available in Node and in workerd alike.
 *   SESSION_SECRET  the signing key (required in production; random per process in dev)
 */
import { dev } from '$app/environment';
import { env } from '$env/dynamic/private';
import { error, type Cookies } from '@sveltejs/kit';
import { cookieValues, isSecureOrigin } from './cookies';
import { randomHex, sameText, signature } from './signing';

let secret: string | undefined;

/** The key that signs visitor cookies and sandbox IDs (sandbox-ids.ts). */
export function signingSecret(): string {
	secret ??= env.SESSION_SECRET || (dev ? randomHex(32) : undefined);
	if (!secret) throw new Error('SESSION_SECRET is not set: it signs visitor cookies and sandbox IDs');
	return secret;
}

const mac = (message: string, length: number) => signature(signingSecret(), message, length);

/**
 * The visitor cookie's name for a request to `url`. Preview hosts are subdomains of the app host,
 * and a page on a subdomain may set a cookie for its parent (`Domain=<app host>`): a sandbox's
 * page could hand every later visitor of the app the attacker's own, validly signed, cookie
 * (session fixation) — and the server cannot tell such a cookie from its own by its value. A
 * `__Host-` cookie can only be set by the app host itself, without a Domain, over a secure origin:
 * browsers refuse it from anywhere else. Secure origins are https and, in browsers, the loopback
 * names (http://localhost and *.localhost, 127.0.0.1, [::1]). Only an app served over plain HTTP on
 * another name (a LAN address, say) falls back to `visitor`, which a preview page can toss.
 */
export function visitorCookieName(url: URL): string {
	return isSecureOrigin(url) ? '__Host-visitor' : 'visitor';
}

/**
 * The visitor's ID from the request's Cookie header, or null when they have none, a forged one,
 * or more than one (a page on another host of the site may add one). Duplicates count as no visitor — not a 400 — so that every sandbox answers
 * them exactly as it answers a stranger (404 for its page, state, WebSocket and actions): the
 * request cannot prove whose it is, and the answer gives away nothing about which cookie matched.
 */
export async function readVisitor(cookieHeader: string | null | undefined, url: URL): Promise<string | null> {
	const values = cookieValues(cookieHeader, visitorCookieName(url));
	const match = values.length === 1 && /^([0-9a-f]{32})\.([0-9a-f]{32})$/.exec(values[0]);
	if (!match) return null;
	return sameText(await mac(`visitor:${match[1]}`, 32), match[2]) ? match[1] : null;
}

/**
 * The visitor's ID, giving them a cookie first if they have none. With duplicate cookies this is a
 * 400: a new cookie would replace only ours, the other would stay, and every page of the new
 * sandbox would answer 404 — the visitor has to clear them.
 */
export async function ensureVisitor(request: Request, cookies: Cookies, url: URL): Promise<string> {
	const cookieHeader = request.headers.get('cookie');
	const name = visitorCookieName(url);
	if (cookieValues(cookieHeader, name).length > 1) {
		error(400, "This browser sent two visitor cookies, so it is unclear who you are. Clear this site's cookies, then start again.");
	}
	const existing = await readVisitor(cookieHeader, url);
	if (existing) return existing;
	const visitor = randomHex(32);
	cookies.set(name, `${visitor}.${await mac(`visitor:${visitor}`, 32)}`, {
		path: '/',
		httpOnly: true,
		sameSite: 'lax',
		// `__Host-` requires Secure, which browsers honour on http://localhost too.
		secure: name.startsWith('__Host-'),
		maxAge: 60 * 60 * 24 * 30
	});
	return visitor;
}
