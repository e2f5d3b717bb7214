/**
 * `vite dev` only: makes the dev server treat a malformed request head as the production path
 * does (workerd strips userinfo from the Host, serves an absolute-form target as its path and
 * answers a missing Host with 400; SvelteKit's server answers a malformed percent-encoding with
 * 400; two Host lines, or a port past 65535, are 400 too). Node passes target and Host through as
 * sent, and SvelteKit's dev middleware builds `http://{Host}{target}` from them and decodes the
 * path — so each of these was a 500. The dev server plugin (plugins.ts) runs this ahead of every
 * middleware and upgrade listener.
 */
import type { IncomingMessage } from 'node:http';
import * as v from 'valibot';

const RequestHost = v.pipe(
	v.string('A request needs a Host header'),
	v.maxLength(260, 'The Host header is too long'),
	v.regex(
		// A DNS name (preview tokens may hold underscores) or a bracketed IPv6 address, and a port.
		/^(?:[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i,
		'The Host header must be a host name with an optional :port (no user name, path or spaces)'
	),
	v.check((host) => Number(/:(\d+)$/.exec(host)?.[1] ?? 0) <= 65535, 'The port in the Host header is past 65535')
);

const RequestPath = v.pipe(
	v.string(),
	v.startsWith('/', 'The request target must be a path or an absolute http URL'),
	v.check((path) => {
		try {
			// The result is used so that no bundler drops the call as free of side effects.
			return decodeURI(path).length >= 0;
		} catch {
			return false;
		}
	}, 'The request path has a malformed percent-encoding')
);

/** `http://authority/path?query`: the absolute form that proxies send (RFC 9112 §3.2.2). */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)/i;

/**
 * Brings the request into the form the app serves, or says why it cannot (for a 400). An
 * absolute-form target is served as its path, with its authority as the Host (which the RFC says
 * to prefer over the Host header); any other target must be a path.
 */
export function normalizeRequestHead(req: IncomingMessage): string | null {
	// Node keeps the first of two Host lines and drops the other; the RFC says 400 (RFC 9112 §3.2).
	if (req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i].toLowerCase() === 'host').length > 1) {
		return 'A request has one Host header, not two';
	}
	const absolute = ABSOLUTE_FORM.exec(req.url ?? '');
	if (absolute) {
		req.url = absolute[2].startsWith('/') ? absolute[2] : `/${absolute[2]}`;
		req.headers.host = absolute[1];
	}
	const path = v.safeParse(RequestPath, req.url ?? '');
	if (!path.success) return path.issues[0].message;
	const host = v.safeParse(RequestHost, req.headers.host);
	return host.success ? null : host.issues[0].message;
}
