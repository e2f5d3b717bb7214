/**
 * HMAC signatures and random IDs, with Web Crypto: the same in Node (`vite dev`) and in workerd.
 * What is signed with them: visitor cookies (visitor.ts), sandbox IDs (sandbox-ids.ts), preview cookies
 * (preview-access.ts) — each message prefixed with what it is, so that one cannot pass for another.
 */
const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

/** The first `length` hex digits of HMAC-SHA-256(secret, message). */
export async function signature(secret: string, message: string, length: number): Promise<string> {
	let key = keys.get(secret);
	if (!key) {
		key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
		keys.set(secret, key);
	}
	const bytes = new Uint8Array(await crypto.subtle.sign('HMAC', await key, encoder.encode(message)));
	return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, length);
}

export function randomHex(length: number): string {
	const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(length / 2)));
	return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, length);
}

/** Constant-time comparison, so that a signature cannot be guessed byte by byte from response times. */
export function sameText(a: string, b: string): boolean {
	if (a.length !== b.length) return false;
	let difference = 0;
	for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
	return difference === 0;
}
