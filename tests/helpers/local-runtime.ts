/**
 * Test helpers around a real local sandbox runtime: start one with its own
 * state directory, talk to it, and look at the host (/proc, ss, the
 * filesystem) to see what it left behind.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, type LocalRuntimeHandle } from '../../sandbox/local/launch.ts';
import { PREVIEW_HOST_HEADER } from '../../sandbox/local/protocol.ts';
import { createLocalBackend } from '../../src/lib/server/sandbox/local.ts';
import type { Sandbox, SandboxBackend } from '../../src/lib/server/sandbox/types.ts';

export interface TestRuntime extends LocalRuntimeHandle {
	stateDir: string;
	backend: SandboxBackend;
	/** A control call with the right secret and Host, for checks the client would not make. */
	control(path: string, init?: RequestInit): Promise<Response>;
	/** A request for a preview host, as the app forwards it. */
	preview(previewUrl: string, init?: RequestInit): Promise<Response>;
}

export async function startTestRuntime(env: Record<string, string> = {}): Promise<TestRuntime> {
	const stateDir = env.LOCAL_SANDBOX_STATE_DIR ?? scratchDir('state-');
	const handle = await startLocalRuntime({ env: { LOCAL_SANDBOX_STATE_DIR: stateDir, ...env }, output: 'capture' });
	return {
		...handle,
		stateDir,
		backend: createLocalBackend({ url: handle.url, secret: handle.secret }),
		control: (path, init = {}) =>
			fetch(`${handle.url}${path}`, {
				...init,
				headers: { authorization: `Bearer ${handle.secret}`, ...(init.headers as Record<string, string>) }
			}),
		preview: (previewUrl, init = {}) => {
			const url = new URL(previewUrl);
			return fetch(`${handle.url}${url.pathname}${url.search}`, {
				...init,
				headers: { [PREVIEW_HOST_HEADER]: url.host, ...(init.headers as Record<string, string>) }
			});
		}
	};
}

/**
 * A fresh directory inside the suite's scratch directory (see global-setup.ts), which a runtime
 * running as root can pass through as the sandboxes' unprivileged uid.
 */
export function scratchDir(prefix: string): string {
	const dir = mkdtempSync(join(process.env.SANDBOX_TEST_DIR ?? tmpdir(), prefix));
	chmodSync(dir, 0o711);
	return dir;
}

interface HostProcess {
	pid: number;
	cmdline: string;
}

/** Live (non-zombie) processes on the host. */
export function liveProcesses(): (HostProcess & { pidNamespace: string })[] {
	const result = [];
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
			if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
			result.push({
				pid: Number(entry),
				cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim(),
				pidNamespace: readlinkSync(`/proc/${entry}/ns/pid`)
			});
		} catch {
			// Gone while we looked.
		}
	}
	return result;
}

/**
 * Every process that belongs to the sandboxes of the runtime using
 * `stateDir`: its bwrap and slirp4netns processes (their command lines name
 * the state directory) and everything inside the sandboxes' PID namespaces.
 */
export function sandboxProcesses(stateDir: string, knownNamespaces: Set<string> = new Set()) {
	const all = liveProcesses();
	const hostNamespace = readlinkSync('/proc/self/ns/pid');
	const launchers = all.filter((p) => p.cmdline.includes(stateDir) && !p.cmdline.includes('main.ts'));
	for (const p of launchers) if (p.pidNamespace !== hostNamespace) knownNamespaces.add(p.pidNamespace);
	const inside = all.filter((p) => knownNamespaces.has(p.pidNamespace));
	return { processes: [...new Map([...launchers, ...inside].map((p) => [p.pid, p])).values()], namespaces: knownNamespaces };
}

/** TCP ports on 127.0.0.1 that the given processes listen on (read with `ss`). */
export function listeningPorts(pids: number[]): number[] {
	const output = execFileSync('ss', ['-Hltnp'], { encoding: 'utf8' });
	const ports = [];
	for (const line of output.split('\n')) {
		const match = /127\.0\.0\.1:(\d+)\s.*users:\(\((.*)\)\)/.exec(line);
		if (match && pids.some((pid) => match[2].includes(`pid=${pid},`))) ports.push(Number(match[1]));
	}
	return ports;
}

export async function waitFor<T>(check: () => T | Promise<T>, { timeout = 10_000, interval = 100 } = {}): Promise<T> {
	const deadline = Date.now() + timeout;
	for (;;) {
		const value = await check();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`condition not met within ${timeout} ms`);
		await new Promise((resolve) => setTimeout(resolve, interval));
	}
}

/** A tiny HTTP server for inside a sandbox: answers with the sandbox's name and the Host it saw. */
export const NAMED_SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
	res.setHeader('content-type', 'application/json');
	res.end(JSON.stringify({ name: process.env.NAME, host: req.headers.host, forwardedHost: req.headers['x-forwarded-host'], path: req.url }));
}).listen(Number(process.env.PORT ?? 3001), '0.0.0.0');
`;

/** Fetches `url` from inside the sandbox with Node; answers the body, or the connection error's code. */
export async function fetchInside(sandbox: Sandbox, url: string): Promise<string> {
	const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) })
		.then((r) => r.text()).then((t) => process.stdout.write(t), (e) => process.stdout.write(String(e.cause?.code ?? e.name)))`;
	return (await sandbox.exec(`node -e '${script}'`)).stdout;
}
