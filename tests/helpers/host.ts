/**
 * Looking at the host from a test: scratch directories the sandboxes' uids can reach, and what a
 * runtime left running or listening (/proc, ss). Nothing here talks to a runtime's API.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childrenOf, cmdlineOf, liveProcesses as engineLiveProcesses, pidNamespaceOf } from '../../engine/proc.ts';

/**
 * A fresh directory inside the suite's scratch directory (see global-setup.ts), which a runtime
 * running as root can pass through as the sandboxes' unprivileged uid.
 */
export function scratchDir(prefix: string): string {
	const dir = mkdtempSync(join(process.env.SANDBOX_TEST_DIR ?? tmpdir(), prefix));
	chmodSync(dir, 0o711);
	return dir;
}

export interface HostProcess {
	pid: number;
	/** The parent's pid, and the process group's. */
	ppid: number;
	pgid: number;
	cmdline: string;
	pidNamespace: string;
}

/** Live (non-zombie) processes on the host, with their command lines and PID namespaces. */
export function liveProcesses(): HostProcess[] {
	return engineLiveProcesses().map(({ pid, ppid, pgid }) => ({ pid, ppid, pgid, cmdline: cmdlineOf(pid), pidNamespace: pidNamespaceOf(pid) ?? '' }));
}

/**
 * The bwrap processes (the containers' outer processes) with their command lines. Only their
 * command lines are read: the kernel gives every other process's name (`comm`) without touching
 * its memory, which a read of a busy process's command line must wait for.
 */
export function bwrapProcesses(): { pid: number; cmdline: string }[] {
	const found: { pid: number; cmdline: string }[] = [];
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		let name = '';
		try {
			name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
		} catch {
			continue; // gone while we looked
		}
		const cmdline = name === 'bwrap' ? cmdlineOf(Number(entry)) : '';
		if (cmdline) found.push({ pid: Number(entry), cmdline });
	}
	return found;
}

/** Every process below `pid`, by the kernel's lists of children. */
export function descendantsOf(pid: number): number[] {
	const found: number[] = [];
	for (const queue = childrenOf(pid); queue.length > 0; ) {
		const next = queue.shift()!;
		found.push(next);
		queue.push(...childrenOf(next));
	}
	return found;
}

/**
 * Every process that belongs to the sandboxes (containers) of the runtime using `stateDir`: the
 * host-side processes whose command lines name the state directory (bwrap and its launcher,
 * slirp4netns, the port forwarders) and everything inside the sandboxes' PID namespaces. Pass the
 * namespaces of an earlier call to find what is left of those sandboxes once their launchers are gone.
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

/** Loop devices whose backing file lies under `dir` (`losetup -a`). */
export function loopDevicesUnder(dir: string): string[] {
	return execFileSync('losetup', ['-a'], { encoding: 'utf8' })
		.split('\n')
		.filter((line) => line.includes(dir));
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
