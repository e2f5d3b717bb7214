/**
 * Where a container boot's CPU goes, at the engine's level: a new container (with its network, as
 * the SDK asks for one) → `node server.js` started in it → its first byte through the forwarded
 * port, as cold-start.ts drives it. Then the CPU time of each process the boot left running, by its
 * job, and of the engine itself meanwhile, read from /proc before the container is destroyed.
 * (Processes that ended during the boot are not counted; the boot starts none of its own.)
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { TOKEN_HEADER } from '../engine/forwarded-head.ts';
import { cmdlineOf, liveProcesses, type ProcessStat } from '../engine/proc.ts';
import { NAMED_SERVER, startTestEngine } from '../tests/helpers/engine.ts';
import { scratchDir } from '../tests/helpers/host.ts';
import { firstOk } from './http.ts';
import { msRow, type Row } from './stats.ts';

const APP_PORT = 3001;
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** The jobs of a container's processes, by command line; the first that matches. */
const JOBS: [job: string, pattern: RegExp][] = [
	['the control server (inside)', /sandbox-control\/server/],
	['the app: node server.js (inside)', /^node server\.js/],
	['the port forwarder (host, in its network)', /port-forwarder/],
	['the network: slirp4netns (host)', /slirp4netns/],
	['bwrap (host)', /^bwrap/]
];

/** Every process below `root`, with its command line. */
function descendants(root: number): (ProcessStat & { cmdline: string })[] {
	const children = Map.groupBy(liveProcesses(), (p) => p.ppid);
	const found: (ProcessStat & { cmdline: string })[] = [];
	const pending = [root];
	while (pending.length > 0) {
		for (const child of children.get(pending.pop()!) ?? []) {
			found.push({ ...child, cmdline: cmdlineOf(child.pid) });
			pending.push(child.pid);
		}
	}
	return found;
}

const cpuMsOf = (pid: number) => (liveProcesses().find((p) => p.pid === pid)?.cpuTicks ?? 0) * TICK_MS;

export async function benchBootCpu(runs: number): Promise<Row[]> {
	const stateDir = scratchDir('bench-cpu-');
	const engine = await startTestEngine({ SANDBOX_ENGINE_STATE_DIR: stateDir });
	const enginePid = engine.child.pid!;
	const samples = new Map<string, number[]>([...JOBS.map(([job]) => [job, []] as [string, number[]]), ['the engine (host)', []], ['in all', []]]);
	try {
		for (let run = 0; run < runs; run++) {
			const engineBefore = cpuMsOf(enginePid);
			const container = await engine.createContainer(`cpu-${run}`);
			try {
				await container.writeFile('/workspace/server.js', NAMED_SERVER);
				await container.startProcess('node server.js', { cwd: '/workspace', env: { PORT: String(APP_PORT) } });
				const { hostPort, token } = await container.port(APP_PORT);
				await firstOk(hostPort, { headers: { [TOKEN_HEADER]: token } });
				const byJob = new Map<string, number>(JOBS.map(([job]) => [job, 0]));
				for (const process of descendants(enginePid)) {
					const job = JOBS.find(([, pattern]) => pattern.test(process.cmdline))?.[0];
					if (job) byJob.set(job, byJob.get(job)! + process.cpuTicks * TICK_MS);
				}
				byJob.set('the engine (host)', cpuMsOf(enginePid) - engineBefore);
				for (const [job, ms] of byJob) samples.get(job)!.push(ms);
				samples.get('in all')!.push([...byJob.values()].reduce((sum, ms) => sum + ms, 0));
			} finally {
				await container.destroy();
			}
		}
	} finally {
		await engine.stop();
		rmSync(stateDir, { recursive: true, force: true });
	}
	return [...samples].map(([job, values]) => msRow(job, values));
}
