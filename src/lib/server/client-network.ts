/**
 * What a start limit per client address counts: the address itself for IPv4, its /64 for IPv6 —
 * one subscriber usually holds a whole /64, and could otherwise take a fresh address per start.
 * (The address is Cloudflare's `CF-Connecting-IP`, or the socket's under `vite dev`.)
 */
export function clientNetwork(address: string): string {
	const text = address.trim().toLowerCase();
	if (!text.includes(':')) return text;
	const mappedIpv4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
	if (mappedIpv4) return mappedIpv4[1];
	const [head, tail] = text.split('::');
	const front = head ? head.split(':') : [];
	const back = tail === undefined || tail === '' ? [] : tail.split(':');
	const groups = tail === undefined ? front : [...front, ...Array(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
	return `${groups.slice(0, 4).map((group) => Number.parseInt(group || '0', 16).toString(16)).join(':')}::/64`;
}
