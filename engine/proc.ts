/**
 * The machine's processes as Linux's /proc shows them: what the engine, the control server inside
 * each container (in its own PID namespace) and the tests read to find processes by parent, group,
 * session or PID namespace. A process that ends while it is being read is left out.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcessStat {
	pid: number;
	/** `Z` for a zombie: ended, waiting to be reaped, holding nothing. */
	state: string;
	ppid: number;
	/** Its process group, and its session. */
	pgid: number;
	session: number;
	/** CPU time used so far, in the kernel's clock ticks (user and system; `getconf CLK_TCK` a second). */
	cpuTicks: number;
}

/** Every process, zombies included. */
export function processStats(): ProcessStat[] {
	const stats: ProcessStat[] = [];
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
			// After the command name, which may hold spaces and parentheses: state, ppid, pgrp, session, …
			const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			const [state, ppid, pgid, session] = fields;
			// …, utime and stime: the 14th and 15th fields of the whole line.
			const cpuTicks = Number(fields[11]) + Number(fields[12]);
			stats.push({ pid: Number(entry), state, ppid: Number(ppid), pgid: Number(pgid), session: Number(session), cpuTicks });
		} catch {
			// Gone while we looked.
		}
	}
	return stats;
}

/** Every process but the zombies. */
export function liveProcesses(): ProcessStat[] {
	return processStats().filter((process) => process.state !== 'Z');
}

/** A process's children, by the kernel's own list. */
export function childrenOf(pid: number): number[] {
	try {
		return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
	} catch {
		return [];
	}
}

/** A process's command line, its arguments joined by spaces; '' once it has gone. */
export function cmdlineOf(pid: number): string {
	try {
		return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
	} catch {
		return '';
	}
}

/** The PID namespace a process is in (`pid:[4026531836]`); null once it has gone. */
export function pidNamespaceOf(pid: number): string | null {
	try {
		return readlinkSync(`/proc/${pid}/ns/pid`);
	} catch {
		return null;
	}
}
