/**
 * `vite dev` only: passes requests for preview hosts, WebSocket upgrades included, to the
 * companion worker that `npm run dev` runs in workerd (dev/companion/companion.ts), which answers
 * them with the same code as the deployed worker. Bytes pass through untouched, Host included:
 * the preview route reads the sandbox and token from it.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';

let companion: URL | undefined;

/**
 * The companion's address, once it serves: dev/dev.ts starts vite dev alongside it, and writes the
 * address to the file named here when it serves (whole: written aside and renamed).
 */
export async function companionReady(timeoutMs = 120_000): Promise<URL> {
	const file = process.env.SANDBOX_DEV_COMPANION_URL_FILE;
	if (!file) throw new Error('SANDBOX_DEV_COMPANION_URL_FILE is not set: start the app with `npm run dev`');
	const deadline = Date.now() + timeoutMs;
	while (!companion) {
		try {
			companion = new URL(readFileSync(file, 'utf8'));
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
			if (Date.now() > deadline) throw new Error(`the companion worker did not start within ${timeoutMs / 1000} s`);
			await new Promise((resolve) => setTimeout(resolve, 50));
		}
	}
	return companion;
}

/** The companion's address, for a request that waited for `companionReady` (plugins.ts holds every request until then). */
function companionUrl(): URL {
	if (!companion) throw new Error('the companion worker is not up yet: wait for companionReady()');
	return companion;
}

export function forwardPreviewRequest(req: IncomingMessage, res: ServerResponse) {
	const { hostname, port } = companionUrl();
	const upstream = httpRequest(
		{ host: hostname, port, method: req.method, path: req.url, headers: req.headers },
		(response) => {
			res.writeHead(response.statusCode ?? 502, response.statusMessage, response.rawHeaders);
			response.pipe(res);
		}
	);
	// A browser that goes away (a closed tab, a cancelled request) takes the upstream request with it.
	res.on('close', () => upstream.destroy());
	upstream.on('error', () => {
		if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'The preview is not reachable right now', code: 'PREVIEW_UNAVAILABLE' }));
		else res.destroy();
	});
	req.pipe(upstream);
}

export function forwardPreviewUpgrade(req: IncomingMessage, client: Duplex, head: Buffer) {
	const { hostname, port } = companionUrl();
	const headers: string[] = [];
	for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
	pipeUpgrade({ host: hostname, port: Number(port) }, req, headers, client, head);
}

/**
 * Writes an upgrade request's head anew (`headers`: `name: value` lines) to `target`, then pipes
 * both sockets into each other until either closes.
 */
export function pipeUpgrade(target: { host: string; port: number }, req: IncomingMessage, headers: string[], client: Duplex, head: Buffer) {
	const upstream = connect(target, () => {
		upstream.write(`${[`${req.method} ${req.url} HTTP/1.1`, ...headers].join('\r\n')}\r\n\r\n`);
		if (head.length > 0) upstream.write(head);
		upstream.pipe(client);
		client.pipe(upstream);
	});
	const close = () => {
		upstream.destroy();
		client.destroy();
	};
	for (const socket of [upstream, client]) {
		socket.on('error', close);
		socket.on('close', close);
	}
}
