/**
 * Commands that run outside a session shell: each is `bash -c <command>` leading a process group
 * of its own (a detached spawn), so that a kill or a timeout reaches everything it started
 * (npm → node → esbuild …), not only the shell.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { liveProcesses } from '../proc.ts';

export const SHELL = '/bin/bash';
/** How long a process group has to exit after SIGTERM before it gets SIGKILL (the real server's grace). */
export const KILL_GRACE_MS = 5000;
/** After SIGKILL, how long to wait for the group to be gone before giving up on it. */
const FORCE_KILL_WAIT_MS = 1000;
const POLL_MS = 50;

export type Environment = Record<string, string | undefined>;

export function spawnInOwnGroup(command: string, options: { cwd: string; env: Environment }): ChildProcess {
	return spawn(SHELL, ['-c', command], {
		cwd: options.cwd,
		env: options.env as NodeJS.ProcessEnv,
		detached: true,
		stdio: ['ignore', 'pipe', 'pipe']
	});
}

/** Sends `signal` to the group led by `pid`; false if no process of that group is left. */
export function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
	try {
		process.kill(-pid, signal);
		return true;
	} catch {
		return false;
	}
}

/**
 * Is any process of the group still running? Zombies do not count: an orphan's zombie waits for
 * whoever reaps orphans (bwrap in a sandbox, but some inits take seconds), and it holds nothing.
 */
export function groupExists(pid: number): boolean {
	return signalGroup(pid, 0) && liveProcesses().some((process) => process.pgid === pid);
}

/**
 * SIGTERM to the whole group, then SIGKILL to whatever is left after the grace period.
 * Resolves with the signal that ended it (or the last one sent).
 */
export async function terminateGroup(pid: number, graceMs = KILL_GRACE_MS): Promise<'SIGTERM' | 'SIGKILL'> {
	if (!signalGroup(pid, 'SIGTERM')) return 'SIGTERM';
	if (await waitForGroupExit(pid, graceMs)) return 'SIGTERM';
	signalGroup(pid, 'SIGKILL');
	await waitForGroupExit(pid, FORCE_KILL_WAIT_MS);
	return 'SIGKILL';
}

async function waitForGroupExit(pid: number, timeoutMs: number): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	while (groupExists(pid)) {
		if (Date.now() >= deadline) return false;
		await new Promise((resolve) => setTimeout(resolve, POLL_MS));
	}
	return true;
}

/** A shell's way of reporting death by a signal: 128 + the signal's number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
	if (code !== null) return code;
	return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}
