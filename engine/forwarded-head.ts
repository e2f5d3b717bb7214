/**
 * What the port forwarder reads in the first request head of each connection before it pipes the
 * rest untouched — the only place between workerd and a container where the engine sees HTTP:
 *
 * - The port's token. A container's forwarded ports (its control server on 3000 among them) listen
 *   on the host's 127.0.0.1, where any local process, or a web page in a local browser, could reach
 *   them. workerd's side of the container API (workerd/engine-container.ts) names the token the
 *   engine gave it for the port in every request; a connection whose first request does not is
 *   reset. (Later requests on a kept-alive connection keep the header: the container may read its
 *   own port's token, which is of no use from inside, as the host's loopback is unreachable there.)
 * - The original host. A WebSocket upgrade through a preview reaches the container with the public
 *   preview host in its Host header on Cloudflare, but workerd's fetch() always sends the Host of the
 *   URL it connects to (127.0.0.1:<port>): the shim names the original in a header, and the forwarder
 *   puts it back. An upgrade is the only request on its connection, so the first head is enough.
 */
import { timingSafeEqual } from 'node:crypto';

export const TOKEN_HEADER = 'x-sandbox-engine-token';
export const ORIGINAL_HOST_HEADER = 'x-sandbox-engine-original-host';

const headerLine = (name: string) => new RegExp(`\\r\\n${name}: *([^\\r\\n]*)`, 'i');
const TOKEN_LINE = headerLine(TOKEN_HEADER);
const ORIGINAL_HOST_LINE = headerLine(ORIGINAL_HOST_HEADER);
const HOST_LINE = /\r\nhost:[^\r\n]*/i;

/**
 * The first request head as the container should see it, or null when the connection must be
 * refused (no head, or not the port's token). Without an expected token, only the host is restored.
 */
export function acceptHead(head: Buffer, token: string | undefined): Buffer | null {
	const end = head.indexOf('\r\n\r\n');
	if (end === -1) return token === undefined ? head : null;
	let text = head.subarray(0, end).toString('latin1');
	if (token !== undefined) {
		const given = Buffer.from(TOKEN_LINE.exec(text)?.[1]?.trim() ?? '');
		const expected = Buffer.from(token);
		if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
		text = text.replace(TOKEN_LINE, '');
	}
	const original = ORIGINAL_HOST_LINE.exec(text);
	if (original) text = text.replace(ORIGINAL_HOST_LINE, '').replace(HOST_LINE, `\r\nHost: ${original[1].trim()}`);
	return Buffer.concat([Buffer.from(text, 'latin1'), head.subarray(end)]);
}
