/**
 * Each engine process is a "run" with a key that survives in the names of
 * what it leaves on disk (workspaces, cgroups). A later run can tell from the
 * key whether its owner is still alive, and clean up after one that crashed.
 */
import { readFileSync } from 'node:fs';

/** `{pid}-{start time}`: the start time tells a live owner from a recycled PID. */
export function runKeyOf(pid: number): string | null {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		// Field 22 (starttime); fields are counted after the parenthesised command name.
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		return `${pid}-${fields[19]}`;
	} catch {
		return null;
	}
}

export const currentRunKey = runKeyOf(process.pid)!;

/** Whether the run named by `name` (`run-{key}`) is still alive. */
export function isRunAlive(name: string): boolean {
	const match = /^run-(\d+)-(\d+)$/.exec(name);
	if (!match) return false;
	return runKeyOf(Number(match[1])) === `${match[1]}-${match[2]}`;
}
