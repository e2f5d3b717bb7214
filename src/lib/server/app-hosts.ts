/**
 * Which hosts the app answers on. A server on this machine that answers any Host can be reached
 * by any web page through DNS rebinding (a name of the attacker's that resolves to 127.0.0.1): the
 * page would then be same-origin with the app, read its answers, and start sandboxes. So requests
 * are answered only for the app's own hosts — the loopback names, and those in `APP_HOSTS` — and
 * their preview hosts (`{port}-{id}-{token}.{app host}`); anything else gets 421.
 *
 *   APP_HOSTS  comma-separated host names the app is served on besides the loopback names
 *              (no ports: any port is fine), e.g. `sandbox.example.com`. A deployment sets it.
 */
import { isPreviewNamespace } from './sandbox/rules';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** The request's URL, or null when its Host makes none (a port past 65535, a space, `[::1` unclosed). */
export function requestUrl(request: Request): URL | null {
	try {
		return new URL(request.url);
	} catch {
		return null;
	}
}

/** Why the app does not answer a request for this URL's host (for a 421), or null when it does. */
export function foreignHostProblem(url: URL, configured: string | undefined): string | null {
	const hostname = url.hostname.toLowerCase();
	const appHost = isPreviewNamespace(hostname) ? hostname.slice(hostname.indexOf('.') + 1) : hostname;
	const allowed = [...LOOPBACK_NAMES, ...(configured ?? '').split(',').map((name) => name.trim().toLowerCase()).filter(Boolean)];
	if (allowed.includes(appHost)) return null;
	return `This server does not answer for ${hostname}. It answers for ${allowed.join(', ')} (add a host name to APP_HOSTS to serve the app there).`;
}

/** The answer for a request whose head the app cannot serve: 400 for a broken Host, 421 for another host. */
export function refuseHost(request: Request, configured: string | undefined): Response | null {
	const url = requestUrl(request);
	if (!url) return text(400, 'The Host header is malformed: a host name with an optional port up to 65535.');
	const problem = foreignHostProblem(url, configured);
	return problem ? text(421, problem) : null;
}

const text = (status: number, message: string) => new Response(`${message}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
