/**
 * What a sandbox may reach on the network. slirp4netns opens a sandbox's outbound connections from
 * the host, so without rules a sandbox reaches whatever the host reaches: the host's own addresses,
 * its private networks, a cloud machine's metadata service. `--disable-host-loopback` only covers
 * 127.0.0.0/8.
 *
 * The rules are routes in the sandbox's own network namespace, set from outside before any of its
 * code runs: `unreachable` routes for every non-public range and for each of the host's addresses,
 * so a connection there fails at once with EHOSTUNREACH. slirp's own network (10.0.2.0/24: the
 * gateway and the DNS forwarder at 10.0.2.3) keeps working because its route is more specific. The
 * sandbox cannot change them: its processes have no capabilities over that namespace (container.ts
 * sets them, and keeps the sandbox from making a user namespace of its own). IPv6 is
 * never configured (slirp4netns runs without --enable-ipv6), so there is no IPv6 route at all.
 */
import { networkInterfaces } from 'node:os';
import * as v from 'valibot';

/** Ranges that are not the public internet: private, shared, link-local, loopback, reserved. */
export const DENIED_RANGES = [
	'0.0.0.0/8', // "this network"
	'10.0.0.0/8', // RFC 1918
	'100.64.0.0/10', // carrier-grade NAT (RFC 6598)
	'127.0.0.0/8', // loopback (the sandbox's own lo still works: local routes win)
	'169.254.0.0/16', // link-local, including cloud metadata at 169.254.169.254
	'172.16.0.0/12', // RFC 1918
	'192.0.0.0/24', // IETF protocol assignments
	'192.168.0.0/16', // RFC 1918
	'198.18.0.0/15', // benchmarking
	'224.0.0.0/4', // multicast
	'240.0.0.0/4' // reserved, and the broadcast address
];

/** slirp4netns's gateway inside every sandbox (with --configure). */
const GATEWAY = '10.0.2.2';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** An IPv4 range `a.b.c.d/n`; a bare address means `/32`. */
export const Ipv4Cidr = v.pipe(
	v.string(),
	v.trim(),
	v.transform((text) => (text.includes('/') ? text : `${text}/32`)),
	v.check((text) => {
		const [address, bits] = text.split('/');
		return IPV4.test(address) && /^\d{1,2}$/.test(bits) && Number(bits) <= 32;
	}, 'must be an IPv4 address or range such as 192.168.1.0/24')
);

/** `SANDBOX_ENGINE_EGRESS_ALLOW`: comma-separated ranges a sandbox may reach after all. */
export const EgressAllowList = v.pipe(
	v.optional(v.string(), ''),
	v.transform((text) => text.split(',').filter((part) => part.trim() !== '')),
	v.array(Ipv4Cidr)
);

/** The host's own IPv4 addresses (past loopback), as the sandbox could otherwise reach them through slirp. */
export function hostAddresses(): string[] {
	return Object.values(networkInterfaces())
		.flat()
		.filter((address) => address?.family === 'IPv4' && !address.internal)
		.map((address) => `${address!.address}/32`);
}

/**
 * The `ip -batch` lines that set a sandbox's egress rules: deny every range above and the host's
 * addresses, then route the allowed ranges through the gateway (a more specific route wins).
 */
export function egressRoutes({ hostAddresses, allow }: { hostAddresses: string[]; allow: string[] }): string[] {
	const denied = [...new Set([...DENIED_RANGES, ...hostAddresses])].filter((range) => !allow.includes(range));
	return [
		...denied.map((range) => `route add unreachable ${range}`),
		...allow.map((range) => `route add ${range} via ${GATEWAY} dev tap0`)
	];
}
