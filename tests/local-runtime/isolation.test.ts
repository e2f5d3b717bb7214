/**
 * Code inside a sandbox is hostile. These tests run it as an attacker would, in real sandboxes of a
 * runtime running as this machine's user (root on CI), and check what it can reach, read and use up.
 * No test sends a packet off this machine: private ranges are shown to be denied by listing the
 * rules, and the deny is proven against a listener on this machine's own address.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENIED_RANGES, egressRoutes, hostAddresses } from '../../sandbox/local/egress.ts';
import type { Sandbox } from '../../src/lib/server/sandbox/types.ts';
import { fetchInside, sandboxProcesses, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';

const asRoot = process.getuid?.() === 0;
/** A secret of the host's, in the runtime's environment: it must not reach any sandbox. */
const CANARY = { SANDBOX_TEST_CANARY: 'host-secret-7f3a9c' };
/** What the runtime passes in on purpose: the host's CA bundle; LANG is the sandbox's own C.UTF-8. */
const PASSED_ON_PURPOSE = new Set(['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'LANG']);

let runtime: TestRuntime;
let sandbox: Sandbox;
/** A server on this machine's own non-loopback address, which slirp4netns would otherwise reach. */
let hostServer: Server;
let hostAddress: string;

beforeAll(async () => {
	runtime = await startTestRuntime({ ...CANARY, LOCAL_SANDBOX_DISK_MB: '64' });
	sandbox = runtime.backend.getSandbox('hostile');
	await sandbox.startProcess('sleep 300', { processId: 'background' });
	hostAddress = hostAddresses()[0]?.replace(/\/32$/, '');
	hostServer = createServer((_, res) => res.end('host service'));
	await new Promise<void>((resolve) => hostServer.listen(0, hostAddress, resolve));
});
afterAll(async () => {
	await sandbox?.destroy();
	await runtime?.stop();
	await new Promise((resolve) => hostServer?.close(resolve));
});

describe('no host root', () => {
	it.runIf(asRoot)("maps the sandbox's root to an unprivileged host uid", async () => {
		const { stdout } = await sandbox.exec('id -u; cat /proc/self/uid_map /proc/self/gid_map');
		const [inside, uidMap, gidMap] = stdout.trim().split('\n');
		expect(inside).toBe('0');
		for (const map of [uidMap, gidMap]) {
			const [first, outside, count] = map.trim().split(/\s+/).map(Number);
			expect(first).toBe(0);
			expect(outside).toBeGreaterThan(65535);
			expect(count).toBe(1);
		}
		// Seen from the host, every process of the sandbox belongs to that uid.
		const inNamespaces = sandboxProcesses(runtime.stateDir).processes.filter((p) => p.cmdline.includes('sleep 300'));
		expect(inNamespaces.length).toBeGreaterThan(0);
		for (const { pid } of inNamespaces) {
			const uids = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
			expect(Number(uids)).toBeGreaterThan(65535);
		}
	});

	it('cannot open host-global /proc files for writing', async () => {
		for (const file of ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/panic', '/proc/sys/vm/drop_caches']) {
			const result = await sandbox.exec(`sh -c 'exec 3> ${file}' 2>&1`);
			expect(result.exitCode, file).not.toBe(0);
			expect(result.stdout, file).toMatch(/Read-only file system|Permission denied/);
		}
	});

	it('cannot make a user namespace of its own (nor the capabilities that come with it)', async () => {
		const result = await sandbox.exec('unshare --user --map-root-user --net true 2>&1');
		expect(result.exitCode).not.toBe(0);
	});
});

describe('no host environment', () => {
	it("holds none of the host's variables in any process's environment", async () => {
		const { stdout } = await sandbox.exec(
			`for f in /proc/[0-9]*/environ; do printf '%s\\n' "== $f"; tr '\\0' '\\n' < "$f"; echo; done`
		);
		const environments = stdout.split('== ').filter(Boolean);
		// bwrap (pid 1), the agent, this shell, the background process, at least.
		expect(environments.length).toBeGreaterThanOrEqual(4);
		expect(stdout).not.toContain(CANARY.SANDBOX_TEST_CANARY);
		expect(stdout).not.toContain(runtime.secret);
		const leaked = stdout
			.split('\n')
			.map((line) => line.split('='))
			.filter(([name, ...value]) => !PASSED_ON_PURPOSE.has(name) && process.env[name] === value.join('=') && value.length > 0);
		expect(leaked.map(([name]) => name)).toEqual([]);
	});
});

describe('egress', () => {
	it("cannot reach a service on the host's own address", async () => {
		expect(hostAddress).toBeTruthy();
		const { port } = hostServer.address() as { port: number };
		// The same server answers on the host: only the sandbox is kept out.
		expect(await (await fetch(`http://${hostAddress}:${port}/`)).text()).toBe('host service');
		expect(await fetchInside(sandbox, `http://${hostAddress}:${port}/`)).toBe('EHOSTUNREACH');
	});

	it('has every private, link-local, CGNAT and host range denied, and no IPv6 route out', async () => {
		const { stdout } = await sandbox.exec('ip -4 route show type unreachable; echo ==; ip -6 route show default; ip -6 addr show scope global');
		const [unreachable, ipv6] = stdout.split('==\n');
		const denied = unreachable.split('\n').map((line) => line.replace(/^unreachable /, '').trim()).filter(Boolean);
		const expected = [...DENIED_RANGES, ...hostAddresses()].map((range) => range.replace(/\/32$/, ''));
		expect(denied.sort()).toEqual([...new Set(expected)].sort());
		for (const range of ['10.0.0.0/8', '169.254.0.0/16', '100.64.0.0/10', '172.16.0.0/12', '192.168.0.0/16']) {
			expect(denied).toContain(range);
		}
		expect(ipv6.trim()).toBe('');
	});

	it('cannot change the rules', async () => {
		const result = await sandbox.exec('ip route del unreachable 10.0.0.0/8 2>&1; ip route add 169.254.0.0/16 via 10.0.2.2 2>&1');
		expect(result.stdout).toMatch(/Operation not permitted/);
		expect((await sandbox.exec('ip -4 route show type unreachable')).stdout).toContain('169.254.0.0/16');
	});

	it('routes an allowed range through the gateway, and denies the rest', () => {
		const routes = egressRoutes({ hostAddresses: ['192.0.2.2/32'], allow: ['10.1.0.0/16', '192.0.2.2/32'] });
		expect(routes).toContain('route add unreachable 10.0.0.0/8');
		expect(routes).toContain('route add 10.1.0.0/16 via 10.0.2.2 dev tap0');
		expect(routes).toContain('route add 192.0.2.2/32 via 10.0.2.2 dev tap0');
		expect(routes).not.toContain('route add unreachable 192.0.2.2/32');
	});

	it('reaches a range that LOCAL_SANDBOX_EGRESS_ALLOW opens', async () => {
		const open = await startTestRuntime({ LOCAL_SANDBOX_EGRESS_ALLOW: hostAddress });
		try {
			const { port } = hostServer.address() as { port: number };
			expect(await fetchInside(open.backend.getSandbox('allowed'), `http://${hostAddress}:${port}/`)).toBe('host service');
		} finally {
			await open.stop();
		}
	});

	it('refuses an allow list that is not IPv4 ranges, naming the setting', async () => {
		await expect(startTestRuntime({ LOCAL_SANDBOX_EGRESS_ALLOW: '10.0.0.0/8,example.com' })).rejects.toThrow(
			/LOCAL_SANDBOX_EGRESS_ALLOW.*IPv4 address or range/s
		);
	});
});

describe('disk quota', () => {
	it('fails a write past the quota inside, with a clear error, and the host holds at most the quota', async () => {
		const fill = await sandbox.exec('dd if=/dev/zero of=/workspace/fill bs=1M count=100 2>&1');
		expect(fill.exitCode).not.toBe(0);
		expect(fill.stdout).toContain('No space left on device');
		await expect(sandbox.writeFile('/workspace/more.txt', 'x'.repeat(1 << 20))).rejects.toMatchObject({
			code: 'NO_SPACE',
			message: expect.stringContaining('disk is full')
		});

		// On the host: everything the sandbox's files take up.
		const run = readdirSync(runtime.stateDir).find((entry) => entry.startsWith('run-'))!;
		const sandboxes = join(runtime.stateDir, run, 'sandboxes');
		let bytes = 0;
		for (const key of readdirSync(sandboxes)) {
			for (const file of readdirSync(join(sandboxes, key))) bytes += statSync(join(sandboxes, key, file)).blocks * 512;
		}
		expect(bytes).toBeGreaterThan(50 * 1024 * 1024);
		expect(bytes).toBeLessThanOrEqual(64 * 1024 * 1024);

		// The sandbox goes on: freeing space makes room again.
		await sandbox.exec('rm /workspace/fill');
		await sandbox.writeFile('/workspace/more.txt', 'x'.repeat(1 << 20));
	});
});
