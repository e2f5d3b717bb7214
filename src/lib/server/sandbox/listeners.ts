/**
 * Which addresses a port is listened on inside a sandbox, from the kernel's own tables
 * (/proc/net/tcp and tcp6): the evidence behind "the app listens on 127.0.0.1 only", the most
 * common reason a server that answers inside the sandbox cannot be reached from outside it.
 */
import type { Sandbox } from './types';

const LISTEN = '0A';

/** The addresses (`127.0.0.1`, `::`, …) with a TCP socket listening on `port`, from the tables' text. */
export function listeningAddresses(tables: string, port: number): string[] {
	const addresses = new Set<string>();
	for (const line of tables.split('\n')) {
		const [, local, , state] = line.trim().split(/\s+/);
		const match = /^([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4})$/i.exec(local ?? '');
		if (!match || state !== LISTEN || parseInt(match[2], 16) !== port) continue;
		addresses.add(match[1].length === 8 ? ipv4(match[1]) : ipv6(match[1]));
	}
	return [...addresses];
}

export function isLoopback(address: string): boolean {
	return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** `127.0.0.1:3001 and [::1]:3001`: where a server listens, as people write it. */
export function socketAddresses(addresses: string[], port: number): string {
	return addresses.map((address) => `${address.includes(':') ? `[${address}]` : address}:${port}`).join(' and ');
}

/** What listens on `port` in the sandbox (empty if nothing does, or the tables cannot be read). */
export async function listenersOn(sandbox: Sandbox, port: number): Promise<string[]> {
	const result = await sandbox.exec('cat /proc/net/tcp /proc/net/tcp6 2>/dev/null', { timeout: 5_000 });
	return listeningAddresses(result.stdout, port);
}

/** The kernel writes an IPv4 address as one 32-bit word in the machine's (little-endian) order. */
function ipv4(hex: string): string {
	return [6, 4, 2, 0].map((at) => parseInt(hex.slice(at, at + 2), 16)).join('.');
}

/** And an IPv6 address as four such words. */
function ipv6(hex: string): string {
	const bytes: number[] = [];
	for (let word = 0; word < 4; word++) for (const at of [6, 4, 2, 0]) bytes.push(parseInt(hex.slice(word * 8 + at, word * 8 + at + 2), 16));
	if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join('.')}`;
	const groups = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2] << 8) | bytes[i * 2 + 1]).toString(16));
	// The longest run of zero groups, written as `::`.
	let best = { at: -1, length: 0 };
	for (let i = 0; i < 8; ) {
		let j = i;
		while (j < 8 && groups[j] === '0') j++;
		if (j - i > best.length) best = { at: i, length: j - i };
		i = j === i ? i + 1 : j;
	}
	if (best.length < 2) return groups.join(':');
	return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`;
}
