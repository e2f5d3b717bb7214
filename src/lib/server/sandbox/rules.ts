/**
 * The naming rules of @cloudflare/sandbox, written once as valibot schemas, and the shape of
 * preview hosts (`{port}-{id}-{token}.{app host}`).
 */
import * as v from 'valibot';

const RESERVED_IDS = ['www', 'api', 'admin', 'root', 'system', 'cloudflare', 'workers'];

/** A sandbox ID: one DNS label (it becomes part of the preview hostname), normalized to lowercase. */
export const SandboxId = v.pipe(
	v.string(),
	v.toLowerCase(),
	v.regex(
		/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
		'A sandbox ID is 1-63 letters, digits or hyphens, and does not start or end with a hyphen'
	),
	v.check((id) => !RESERVED_IDS.includes(id), 'This sandbox ID is reserved')
);

/** A port a sandbox may expose: 1024-65535, except 3000 (the container's control plane). */
export const ExposablePort = v.pipe(
	v.number(),
	v.integer('A port is a whole number'),
	v.minValue(1024, 'Ports below 1024 cannot be exposed'),
	v.maxValue(65535, 'A port is at most 65535'),
	v.check((port) => port !== 3000, 'Port 3000 is reserved for the sandbox control plane')
);

/** The parts of a preview host's first label: `{port}-{sandboxId}-{token}`. */
export interface PreviewRoute {
	port: number;
	sandboxId: string;
	token: string;
}

/**
 * Reads a preview route from a host such as `3001-my-sandbox-tok3n.localhost:5173`,
 * or returns null when the host is not a preview host. Like the SDK's proxy, it
 * splits at the first and last hyphen, because IDs may contain hyphens and tokens may not.
 */
export function parsePreviewHost(host: string): PreviewRoute | null {
	const label = host.toLowerCase().split('.')[0];
	if (label === host.toLowerCase()) return null;
	const match = /^(\d{4,5})-(.+)-([a-z0-9_]{1,16})$/.exec(label);
	if (!match) return null;
	const port = v.safeParse(ExposablePort, Number(match[1]));
	const sandboxId = v.safeParse(SandboxId, match[2]);
	if (!port.success || !sandboxId.success) return null;
	return { port: port.output, sandboxId: sandboxId.output, token: match[3] };
}

/**
 * Whether a host is in the preview namespace: a subdomain whose first label starts with a port
 * number and a hyphen (`{digits}-…`). Such a host is never the app's own (the SDK's proxy would
 * take it for a preview as well), so the entry points route every one of them to the preview
 * route, which answers those `parsePreviewHost` refuses — port 80 or 3000, a label over 63
 * characters, a reserved ID — with 404 instead of letting them fall through to the app's pages.
 */
export function isPreviewNamespace(host: string): boolean {
	const labels = host.toLowerCase().split('.');
	return labels.length > 1 && /^\d+-/.test(labels[0]);
}

/**
 * The host (with its port, if any) that preview URLs hang off: the app's own
 * request host, e.g. `localhost:5173` or `preview.example.com`.
 */
export const PreviewHostname = v.pipe(
	v.string(),
	v.toLowerCase(),
	v.regex(
		/^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::\d{1,5})?$/,
		'A hostname is a DNS name with an optional :port, such as localhost:5173'
	),
	v.check(
		(host) => !host.split(':')[0].endsWith('.workers.dev'),
		'Preview URLs need a custom domain: *.workers.dev has no wildcard subdomains. Serve the app from a domain ' +
			'of your own with a wildcard route (see docs/deployment.md).'
	)
);

/**
 * The preview URL for what the SDK's `exposePort` returned, on the app's own origin: its scheme
 * and port. (The SDK assumes HTTPS on the default port for any host but localhost, and cannot put
 * a port on one: `example.com:8443` comes back as `https://example.com:8443/`, the app's own URL.
 * So the SDK is given the hostname alone.) Only the first label of the SDK's URL,
 * `{port}-{id}-{token}`, is taken from it.
 */
export function previewUrlFor(sdkUrl: string, origin: string): string {
	const label = sdkUrl.replace(/^[a-z]+:\/\//i, '').split(/[.:/]/)[0].toLowerCase();
	const app = new URL(origin);
	return `${app.protocol}//${label}.${app.host}/`;
}
