/**
 * The sandbox processes this bench started, found as descendants of this process in /proc: a
 * sandbox's bwrap (and everything in it), its slirp4netns and its port forwarder. Used to check
 * that a round left none behind for the next to compete with.
 */
import { cmdlineOf, liveProcesses } from '../engine/proc.ts';

const SANDBOX_PROCESS = /bwrap|slirp4netns|port-forwarder/;

function hostProcesses(): { pid: number; parent: number; cmdline: string }[] {
	return liveProcesses().map(({ pid, ppid }) => ({ pid, parent: ppid, cmdline: cmdlineOf(pid) }));
}

/** How many sandbox processes descend from this one. */
export function ownSandboxProcesses(): number {
	const all = hostProcesses();
	const children = Map.groupBy(all, (p) => p.parent);
	let count = 0;
	const pending = [process.pid];
	while (pending.length > 0) {
		for (const child of children.get(pending.pop()!) ?? []) {
			if (SANDBOX_PROCESS.test(child.cmdline)) count++;
			pending.push(child.pid);
		}
	}
	return count;
}

/** Waits until no sandbox process of ours is left; throws if some still run after `timeoutMs`. */
export async function noSandboxesLeft(timeoutMs = 15_000) {
	const deadline = performance.now() + timeoutMs;
	for (let left = ownSandboxProcesses(); left > 0; left = ownSandboxProcesses()) {
		if (performance.now() > deadline) throw new Error(`${left} sandbox process(es) still run ${timeoutMs / 1000} s after the round`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}
