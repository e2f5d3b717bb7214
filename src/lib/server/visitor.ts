/**
 * Binds sandboxes to visitors without server-side storage, so that ownership
 * survives a restart or a new isolate:
 *
 * - a visitor is a random ID in a signed, HttpOnly, SameSite cookie;
 * - a sandbox ID is `{template}-{nonce}{mac}`, where the mac is an HMAC of
 *   the visitor ID and the nonce. Only the visitor who was given an ID can
 *   show it is theirs; anyone else is answered 404, as if it did not exist.
 *
 * Signing uses Web Crypto, available in Node and in workerd alike.
 *   SESSION_SECRET  the signing key (required in production; random per process in dev)
 */
import { dev } from '$app/environment';
import { env } from '$env/dynamic/private';
import { error, type Cookies } from '@sveltejs/kit';
import * as v from 'valibot';
import { TEMPLATES, type TemplateId } from '$lib/sandbox-state';

const COOKIE = 'visitor';
const NONCE_HEX = 10;
const MAC_HEX = 16;

const encoder = new TextEncoder();
let key: Promise<CryptoKey> | undefined;

function signingKey(): Promise<CryptoKey> {
	key ??= (async () => {
		let secret = env.SESSION_SECRET;
		if (!secret) {
			if (!dev) throw new Error('SESSION_SECRET is not set: it signs visitor cookies and sandbox IDs');
			secret = randomHex(32);
		}
		return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
	})();
	return key;
}

async function mac(message: string, length: number): Promise<string> {
	const signature = await crypto.subtle.sign('HMAC', await signingKey(), encoder.encode(message));
	return [...new Uint8Array(signature)].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, length);
}

function randomHex(length: number): string {
	const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(length / 2)));
	return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, length);
}

/** Constant-time comparison, so a mac cannot be guessed byte by byte from response times. */
function sameText(a: string, b: string): boolean {
	if (a.length !== b.length) return false;
	let difference = 0;
	for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
	return difference === 0;
}

/**
 * Every `visitor` value in a Cookie header. Normally one — but a page under a parent or sibling
 * domain can add another (cookie tossing; a sandbox's preview host is a subdomain of the app),
 * and parsers disagree on which of two wins (SvelteKit's `cookies.get` takes the first, a Map the
 * last). So the app reads the header itself, everywhere, with one rule: two or more prove no
 * visitor at all (see `readVisitor`).
 */
function visitorCookies(cookieHeader: string | null | undefined): string[] {
	return (cookieHeader ?? '').split(';').flatMap((part) => {
		const at = part.indexOf('=');
		return at > 0 && part.slice(0, at).trim() === COOKIE ? [part.slice(at + 1).trim()] : [];
	});
}

/**
 * The visitor's ID from the request's Cookie header, or null when they have none, a forged one,
 * or more than one. Duplicates count as no visitor — not a 400 — so that every sandbox answers
 * them exactly as it answers a stranger (404 for its page, state, WebSocket and actions): the
 * request cannot prove whose it is, and the answer gives away nothing about which cookie matched.
 */
export async function readVisitor(cookieHeader: string | null | undefined): Promise<string | null> {
	const values = visitorCookies(cookieHeader);
	const match = values.length === 1 && /^([0-9a-f]{32})\.([0-9a-f]{32})$/.exec(values[0]);
	if (!match) return null;
	return sameText(await mac(`visitor:${match[1]}`, 32), match[2]) ? match[1] : null;
}

/**
 * The visitor's ID, giving them a cookie first if they have none. With duplicate cookies this is a
 * 400: a new cookie would replace only ours, the other would stay, and every page of the new
 * sandbox would answer 404 — the visitor has to clear them.
 */
export async function ensureVisitor(request: Request, cookies: Cookies, secure: boolean): Promise<string> {
	const cookieHeader = request.headers.get('cookie');
	if (visitorCookies(cookieHeader).length > 1) {
		error(400, "This browser sent two visitor cookies, so it is unclear who you are. Clear this site's cookies, then start again.");
	}
	const existing = await readVisitor(cookieHeader);
	if (existing) return existing;
	const visitor = randomHex(32);
	cookies.set(COOKIE, `${visitor}.${await mac(`visitor:${visitor}`, 32)}`, {
		path: '/',
		httpOnly: true,
		sameSite: 'lax',
		secure,
		maxAge: 60 * 60 * 24 * 30
	});
	return visitor;
}

/** A new sandbox ID that only this visitor can prove is theirs. */
export async function newSandboxId(visitor: string, template: TemplateId): Promise<string> {
	const nonce = randomHex(NONCE_HEX);
	return `${template}-${nonce}${await mac(`sandbox:${visitor}:${nonce}`, MAC_HEX)}`;
}

const OWNED_ID = new RegExp(`^(${Object.keys(TEMPLATES).join('|')})-([0-9a-f]{${NONCE_HEX}})([0-9a-f]{${MAC_HEX}})$`);
// Checked as given, not lowercased: the IDs we issue are lowercase, and another spelling would be a second key.
const OwnedId = v.pipe(v.string(), v.regex(OWNED_ID));

/** The template a well-formed sandbox ID names, whoever owns it. */
export function templateOf(id: string): TemplateId | null {
	return v.is(OwnedId, id) ? (OWNED_ID.exec(id)![1] as TemplateId) : null;
}

/**
 * The sandbox's template if `id` is well-formed and belongs to `visitor`;
 * otherwise null. Callers answer null with 404.
 */
export async function ownedSandbox(visitor: string | null, id: string): Promise<TemplateId | null> {
	const parsed = v.safeParse(OwnedId, id);
	if (!visitor || !parsed.success) return null;
	const [, template, nonce, given] = OWNED_ID.exec(parsed.output)!;
	return sameText(await mac(`sandbox:${visitor}:${nonce}`, MAC_HEX), given) ? (template as TemplateId) : null;
}
