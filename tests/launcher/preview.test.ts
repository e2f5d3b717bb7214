/**
 * What a worker in workerd leaves listening on this machine. The `wrangler dev` CLI always opens
 * workerd's runtime inspector, a DevTools socket that takes a WebSocket from any Origin: any page in
 * a local browser, or any local process, could evaluate code inside the worker that holds our
 * secrets. dev/wrangler-dev.ts leaves it closed (and the dev registry's debug port too, unless
 * asked): this starts the worker as `npm run preview` does and knocks on every TCP port that its
 * process group listens on. And since every client of `wrangler dev` is this machine, whatever
 * `CF-Connecting-IP` header it sends, the start limits count it as such.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWranglerDev, type WranglerDev } from '../../dev/wrangler-dev.ts';
import { DEPLOYED_CONFIG } from '../../dev/worker-config.ts';
import { CONFORMANCE_WORKER } from '../conformance/harness.ts';
import { builtWorker } from '../helpers/build.ts';
import { liveProcesses, scratchDir, waitFor, type HostProcess } from '../helpers/host.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The live members of a process group. */
const groupMembers = (pgid: number) => liveProcesses().filter((p) => p.pgid === pgid);

/** Every live process started, directly or not, by `root`. */
function descendants(root: number): HostProcess[] {
	const all = liveProcesses();
	const found = new Set([root]);
	for (let size = 0; size !== found.size; ) {
		size = found.size;
		for (const p of all) if (found.has(p.ppid)) found.add(p.pid);
	}
	return all.filter((p) => p.pid !== root && found.has(p.pid));
}

interface Listener {
	address: string;
	port: number;
	owner: HostProcess;
}

/** The TCP sockets the given processes listen on, on any address (`ss`). */
function listenersOf(members: HostProcess[]): Listener[] {
	const result: Listener[] = [];
	for (const line of execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' }).split('\n')) {
		const local = /^\S+\s+\d+\s+\d+\s+(\S+):(\d+)\s/.exec(line);
		if (!local) continue;
		for (const [, pid] of line.matchAll(/pid=(\d+),/g)) {
			const owner = members.find((p) => p.pid === Number(pid));
			if (owner && !result.some((l) => l.port === Number(local[2]) && l.owner === owner)) result.push({ address: local[1], port: Number(local[2]), owner });
		}
	}
	return result;
}

/** A GET to 127.0.0.1:port (status and body), or null for a port that does not speak HTTP. */
async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string } | null> {
	try {
		const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(5_000) });
		return { status: response.status, body: await response.text() };
	} catch {
		return null;
	}
}

/** What the port answers where a DevTools inspector answers (what a page or process would look for), if it does. */
async function inspectorAnswer(port: number): Promise<string | null> {
	for (const path of ['/json/version', '/json', '/json/list']) {
		const answer = await get(port, path);
		if (answer?.status === 200 && /webSocketDebuggerUrl|Protocol-Version|"Browser"/.test(answer.body)) return `${path}: ${answer.body}`;
	}
	return null;
}

/** The app's start page, as a browser gets it. */
const answersAsApp = async (port: number) => {
	const answer = await get(port, '/');
	return answer?.status === 200 && answer.body.includes('<title>Sandbox previews</title>');
};

/** What a workerd was told to listen on: its entry socket's port (0: any) and miniflare's loopback port. */
function workerdSockets(workerd: HostProcess): { entry: number; loopback: number } {
	const entry = /--socket-addr=entry=\S+:(\d+)/.exec(workerd.cmdline);
	const loopback = /--external-addr=loopback=\S+:(\d+)/.exec(workerd.cmdline);
	if (!entry || !loopback) throw new Error(`a workerd without an entry or loopback address: ${workerd.cmdline}`);
	return { entry: Number(entry[1]), loopback: Number(loopback[1]) };
}

/** Opens a WebSocket with this Origin: the HTTP status of a refusal, or 101 once it is open. */
function upgradeStatus(url: string, origin: string): Promise<number> {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url, { origin });
		ws.once('unexpected-response', (_request, response) => {
			resolve(response.statusCode ?? 0);
			ws.terminate();
		});
		ws.once('open', () => {
			resolve(101);
			ws.close();
		});
		ws.on('error', reject);
	});
}

describe('npm run preview: what it opens, and whom it trusts', () => {
	let preview: ChildProcess | undefined;
	let previewExited: Promise<unknown> | undefined;
	let port = 0;
	let output = '';
	/** The launcher's worker process: its pid is its process group's. */
	let workerGroup = 0;

	beforeAll(async () => {
		// The worker as `npm run preview` runs it: built first.
		await builtWorker();
		port = await freePort();
		// A process group of its own (preview.ts and the engine), ended whole in afterAll.
		preview = spawn(process.execPath, ['dev/preview.ts', '--port', String(port)], {
			cwd: ROOT,
			// Two sandboxes at most from one client address (the client-address test below).
			env: { ...process.env, SANDBOX_ENGINE_STATE_DIR: scratchDir('launcher-preview-'), SANDBOX_ADDRESS_LIVE_SANDBOXES: '2' },
			stdio: ['ignore', 'pipe', 'pipe'],
			detached: true
		});
		preview.stdout!.on('data', (chunk) => (output += chunk));
		preview.stderr!.on('data', (chunk) => (output += chunk));
		previewExited = new Promise((resolve) => preview!.once('exit', resolve));
		await waitFor(() => answersAsApp(port), { timeout: 150_000, interval: 500 }).catch(() => {
			throw new Error(`npm run preview did not serve the app on ${port}:\n${output}`);
		});
		// The worker's process group: the one process below preview.ts that leads a group of its own.
		const leaders = descendants(preview.pid!).filter((p) => p.pgid === p.pid && p.pgid !== preview!.pid);
		expect(leaders, output).toHaveLength(1);
		workerGroup = leaders[0].pid;
	}, 400_000);

	afterAll(async () => {
		if (!preview) return;
		// Every group of the run, found while preview.ts still runs (its children are found through it).
		const groups = new Set([preview.pid!, ...descendants(preview.pid!).map((p) => p.pgid)]);
		if (workerGroup) groups.add(workerGroup);
		if (preview.exitCode === null) preview.kill('SIGTERM');
		const stopped = await Promise.race([previewExited, new Promise((resolve) => setTimeout(() => resolve('late'), 30_000))]);
		const runProcesses = () => [...groups].flatMap(groupMembers);
		await waitFor(() => runProcesses().length === 0, { timeout: 5_000 }).catch(() => {});
		const left = runProcesses();
		for (const pgid of groups) {
			try {
				process.kill(-pgid, 'SIGKILL');
			} catch {
				// Nothing of that group was left.
			}
		}
		expect(stopped, 'npm run preview did not stop within 30 s of SIGTERM').not.toBe('late');
		expect(left.map((p) => `${p.pid} ${p.cmdline}`), 'processes of the run outlived it').toEqual([]);
	}, 60_000);

	it('answers as a DevTools inspector on no port', async () => {
		const listeners = listenersOf(groupMembers(workerGroup));
		expect(listeners.length).toBeGreaterThan(0);
		const inspectors = [];
		for (const l of listeners) {
			const answer = await inspectorAnswer(l.port);
			if (answer) inspectors.push(`${l.address}:${l.port} ${answer.slice(0, 200)}`);
		}
		expect(inspectors, 'ports that answer as a DevTools inspector').toEqual([]);
	});

	it('listens only where the run needs to', async () => {
		const members = groupMembers(workerGroup);
		const workerds = members.filter((p) => /\/workerd serve /.test(p.cmdline));
		// Neither asked for: workerd's runtime inspector, nor the dev registry's debug port.
		for (const workerd of workerds) expect(workerd.cmdline).not.toMatch(/--inspector-addr|--debug-port/);
		const proxy = workerds.filter((w) => workerdSockets(w).entry === port);
		const worker = workerds.filter((w) => workerdSockets(w).entry === 0);
		expect([proxy.length, worker.length, workerds.length]).toEqual([1, 1, 2]);
		const loopbacks = workerds.map((w) => workerdSockets(w).loopback);

		const listeners = listenersOf(members);
		/** Every listener the run needs, and why; anything else fails the test. */
		const needed = (l: Listener): string | null => {
			if (l.owner === proxy[0] && l.port === port) return "the HTTP port: wrangler's proxy worker, which browsers talk to";
			if (l.owner === worker[0]) return "the worker's own workerd: wrangler's proxy worker forwards every request here";
			if (!/workerd/.test(l.owner.cmdline) && loopbacks.includes(l.port)) return "miniflare's loopback server, where workerd calls back into Node: 403 without miniflare's per-run secret";
			return null;
		};
		const unexpected = listeners.filter((l) => !needed(l)).map((l) => `${l.address}:${l.port} ${l.owner.cmdline.slice(0, 140)}`);
		expect(unexpected, 'listeners the run does not need').toEqual([]);
		expect(listeners.filter((l) => l.owner === proxy[0]).map((l) => l.port)).toEqual([port]);
		// The worker's own workerd listens on its entry alone; the loopback servers are miniflare's two.
		expect(listeners.filter((l) => l.owner === worker[0])).toHaveLength(1);
		expect(listeners.filter((l) => loopbacks.includes(l.port)).map((l) => l.port).sort()).toEqual([...loopbacks].sort());
		for (const l of listeners) {
			expect(l.address, `${l.port} listens beyond this machine`).toBe('127.0.0.1');
			// The app on the HTTP port, and behind it on the worker's own entry (the same app); nowhere else.
			expect(await answersAsApp(l.port), `${l.port}: ${needed(l)}`).toBe(l.owner === proxy[0] || l.owner === worker[0]);
			if (loopbacks.includes(l.port)) expect((await get(l.port, '/'))?.status).toBe(403);
		}
	});

	it('counts every client as this machine, whatever CF-Connecting-IP it sends (only Cloudflare sets that header)', async () => {
		const origin = `http://localhost:${port}`;
		/** A start by a new visitor (no cookie) claiming another client address each time. */
		const start = (address: string) =>
			fetch(`${origin}/?/start`, {
				method: 'POST',
				redirect: 'manual',
				headers: { origin, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': address },
				body: 'template=express'
			});
		const started = [await start('198.18.0.1'), await start('198.18.0.2')];
		expect(started.map((r) => r.status)).toEqual([303, 303]);
		const third = await start('198.18.0.3');
		expect(third.status).toBe(429);
		expect(await third.text()).toContain('Too many sandboxes are running from your network');
		// Stopped, they free their slots (and leave nothing for afterAll to find).
		for (const response of started) {
			const cookie = response.headers.get('set-cookie')!.split(';')[0];
			const stop = await fetch(`${origin}${response.headers.get('location')}?/stop`, {
				method: 'POST',
				redirect: 'manual',
				headers: { origin, accept: 'text/html', cookie, 'content-type': 'application/x-www-form-urlencoded' },
				body: ''
			});
			expect(stop.status).toBe(303);
		}
		expect((await start('198.18.0.4')).status).toBe(303);
	});

	it("keeps wrangler's local explorer (Durable Object storage for any local process) off", async () => {
		const answer = await get(port, '/cdn-cgi/local/explorer/api/workers/durable_objects/namespaces');
		expect(answer?.body).not.toContain('"success":true');
	});
});

describe('with SANDBOX_INSPECTOR=1', () => {
	let worker: WranglerDev | undefined;

	afterAll(async () => {
		if (!worker) return;
		await worker.stop();
		const group = worker.child.pid!;
		await waitFor(() => groupMembers(group).length === 0, { timeout: 5_000 }).catch(() => {});
		expect(groupMembers(group).map((p) => `${p.pid} ${p.cmdline}`), 'processes of the worker outlived it').toEqual([]);
	}, 30_000);

	it("opens wrangler's inspector proxy on 127.0.0.1, which refuses a WebSocket from another Origin", async () => {
		const port = await freePort();
		// A small worker through the same launcher: only the inspector is looked at here.
		worker = runWranglerDev({
			config: DEPLOYED_CONFIG,
			derive: CONFORMANCE_WORKER,
			ip: '127.0.0.1',
			port,
			persist: scratchDir('launcher-inspector-'),
			enableContainers: false,
			devRegistry: false,
			vars: {},
			env: { ...process.env, SANDBOX_INSPECTOR: '1', WRANGLER_SEND_METRICS: 'false' },
			stdio: 'pipe'
		});
		let output = '';
		worker.child.stdout!.on('data', (chunk) => (output += chunk));
		worker.child.stderr!.on('data', (chunk) => (output += chunk));
		await waitFor(() => get(port, '/').then((answer) => answer !== null), { timeout: 120_000, interval: 250 }).catch(() => {
			throw new Error(`the worker did not start:\n${output}`);
		});

		const members = groupMembers(worker.child.pid!);
		const inspectors = [];
		for (const l of listenersOf(members)) {
			const version = await get(l.port, '/json/version');
			if (version?.status === 200 && version.body.includes('"Browser":"wrangler/')) inspectors.push(l);
		}
		expect(inspectors, output).toHaveLength(1);
		const [proxy] = inspectors;
		expect(proxy.address).toBe('127.0.0.1');
		// Only a header: no packet leaves this machine.
		expect(await upgradeStatus(`ws://127.0.0.1:${proxy.port}/ws`, 'http://evil.example')).toBe(401);
		// The same request from DevTools on this machine is let in: the refusal is the Origin check's.
		expect(await upgradeStatus(`ws://127.0.0.1:${proxy.port}/ws`, 'http://localhost')).toBe(101);
	}, 150_000);
});
