/**
 * Reading the Cookie header ourselves, for the app's cookies (visitor.ts) and the preview hosts'
 * (preview-access.ts), in SvelteKit's routes and in the worker entry alike.
 */

/**
 * Whether browsers treat `url`'s origin as secure: https, and the loopback names over plain http
 * (localhost, *.localhost, 127.0.0.0/8, [::1]). Only there do they keep `Secure` and `__Host-`
 * cookies.
 */
export function isSecureOrigin(url: URL): boolean {
	const host = url.hostname;
	return url.protocol === 'https:' || host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * Every value of the cookie `name` in a Cookie header. Normally one — but a page under a parent or
 * sibling domain can add another of the same name (cookie tossing), and parsers disagree on which
 * of two wins: callers decide what more than one means.
 */
export function cookieValues(cookieHeader: string | null | undefined, name: string): string[] {
	return (cookieHeader ?? '').split(';').flatMap((part) => {
		const at = part.indexOf('=');
		return at > 0 && part.slice(0, at).trim() === name ? [part.slice(at + 1).trim()] : [];
	});
}

/** The Cookie header without the cookies named (null when nothing is left). */
export function withoutCookies(cookieHeader: string, names: readonly string[]): string | null {
	const kept = cookieHeader.split(';').filter((part) => {
		const at = part.indexOf('=');
		return part.trim() !== '' && !names.includes((at > 0 ? part.slice(0, at) : part).trim());
	});
	return kept.length > 0 ? kept.map((part) => part.trim()).join('; ') : null;
}
