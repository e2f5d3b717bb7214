/**
 * A WebSocket upgrade through a preview reaches the container with the public preview host in its
 * Host header on Cloudflare. workerd's fetch() always sends the Host of the URL it connects to
 * (here 127.0.0.1:<forwarded port>), so the engine's side of workerd's container API
 * (workerd/engine-container.ts) names the original host in this header instead, and the port
 * forwarder puts it back in the Host line before the container sees the request. An upgrade is the
 * only request on its connection, so rewriting the first request head of a connection is enough.
 */
export const ORIGINAL_HOST_HEADER = 'x-sandbox-engine-original-host';

const HEADER_LINE = new RegExp(`\\r\\n${ORIGINAL_HOST_HEADER}: *([^\\r\\n]*)`, 'i');
const HOST_LINE = /\r\nhost:[^\r\n]*/i;

/** The request head with the original host restored, or unchanged when it names none. */
export function restoreOriginalHost(head: Buffer): Buffer {
	const end = head.indexOf('\r\n\r\n');
	if (end === -1) return head;
	const text = head.subarray(0, end).toString('latin1');
	const original = HEADER_LINE.exec(text);
	if (!original) return head;
	const restored = text.replace(HEADER_LINE, '').replace(HOST_LINE, `\r\nHost: ${original[1].trim()}`);
	return Buffer.concat([Buffer.from(restored, 'latin1'), head.subarray(end)]);
}
