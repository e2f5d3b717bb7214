/**
 * Node-only: forwards a WebSocket upgrade for a preview host to the local
 * runtime, for the Vite dev server (upgrades must be taken before Vite's own
 * HMR listener, and Node's fetch cannot carry them). The bytes pass through
 * untouched, with the public host named in the preview header. (In workerd,
 * client.ts's `proxyPreview` carries upgrades through fetch.)
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { LocalBackendConfig } from './client.ts';
import { PREVIEW_HOST_HEADER } from './protocol.ts';
import { tunnelUpgrade } from './tunnel.ts';

export function forwardPreviewUpgrade(config: LocalBackendConfig, req: IncomingMessage, socket: Duplex, head: Buffer) {
	const runtime = new URL(config.url);
	const headers: [string, string][] = [
		['host', runtime.host],
		[PREVIEW_HOST_HEADER, req.headers.host ?? '']
	];
	for (let i = 0; i < req.rawHeaders.length; i += 2) {
		// The preview header is ours to set: a client's own copy must not reach the runtime.
		const name = req.rawHeaders[i].toLowerCase();
		if (name !== 'host' && name !== PREVIEW_HOST_HEADER) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
	}
	tunnelUpgrade(req, socket, head, { host: runtime.hostname, port: Number(runtime.port), headers });
}
