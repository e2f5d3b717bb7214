/**
 * Node-only forwarding of preview-host traffic to the local runtime, for the
 * Vite dev server: it must take preview hosts before Vite's own middlewares
 * (which would serve /@vite/client, /src/… and static files) and before
 * Vite's HMR listener. Requests stream through untouched, with the public
 * host named in the preview header. (The built worker uses client.ts's
 * `proxyPreview` from hooks.server.ts instead.)
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LocalBackendConfig } from './client.ts';
import { PREVIEW_HOST_HEADER } from './protocol.ts';

export function forwardPreviewRequest(config: LocalBackendConfig, req: IncomingMessage, res: ServerResponse) {
	const runtime = new URL(config.url);
	const headers = { ...req.headers, [PREVIEW_HOST_HEADER]: req.headers.host, host: runtime.host, 'x-forwarded-proto': 'http' };
	const upstream = request({ host: runtime.hostname, port: runtime.port, method: req.method, path: req.url, headers }, (response) => {
		res.writeHead(response.statusCode ?? 502, response.statusMessage, response.headers);
		response.pipe(res);
	});
	upstream.on('error', () => {
		if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ error: 'The local sandbox runtime is not reachable', code: 'BACKEND_UNAVAILABLE' }));
	});
	req.pipe(upstream);
}

export function forwardPreviewUpgrade(config: LocalBackendConfig, req: IncomingMessage, socket: Duplex, head: Buffer) {
	const runtime = new URL(config.url);
	const upstream = connect(Number(runtime.port), runtime.hostname, () => {
		const lines = [`${req.method} ${req.url} HTTP/1.1`, `host: ${runtime.host}`, `${PREVIEW_HOST_HEADER}: ${req.headers.host}`];
		for (let i = 0; i < req.rawHeaders.length; i += 2) {
			if (req.rawHeaders[i].toLowerCase() !== 'host') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
		}
		upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
		if (head.length > 0) upstream.write(head);
		upstream.pipe(socket);
		socket.pipe(upstream);
	});
	const close = () => {
		upstream.destroy();
		socket.destroy();
	};
	upstream.on('error', close);
	socket.on('error', close);
	upstream.on('close', close);
	socket.on('close', close);
}
