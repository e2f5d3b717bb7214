/**
 * Memory, CPU and process-count limits per sandbox through cgroups, where the
 * host lets us create them (root on cgroup v1, or v2 with a writable tree).
 * Limits are best effort: when they cannot be applied, the engine says so at
 * start and in /v1/health, and runs without them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRunAlive } from './runs.ts';

export interface Limits {
	memoryBytes: number;
	cpus: number;
	pids: number;
}

export type LimitSupport = { enforced: true; cgroupVersion: 1 | 2 } | { enforced: false; reason: string };

const ROOT = '/sys/fs/cgroup';
const TREE = 'sandbox-preview';
const V1_CONTROLLERS = ['memory', 'cpu', 'pids'];
const CPU_PERIOD_US = 100_000;

export class Cgroups {
	readonly support: LimitSupport;
	private readonly limits: Limits;
	private readonly runDirs: string[];
	private readonly version: 1 | 2 | null;

	private constructor(version: 1 | 2 | null, runDirs: string[], limits: Limits, support: LimitSupport) {
		this.version = version;
		this.runDirs = runDirs;
		this.limits = limits;
		this.support = support;
	}

	/** Prepares this run's cgroup tree, removing trees left by runs that died. */
	static async setUp(runName: string, limits: Limits): Promise<Cgroups> {
		const version = existsSync(join(ROOT, 'cgroup.controllers'))
			? 2
			: existsSync(join(ROOT, 'memory', 'cgroup.procs'))
				? 1
				: null;
		if (version === null) {
			return new Cgroups(null, [], limits, { enforced: false, reason: 'no cgroup filesystem found' });
		}
		const trees = version === 2 ? [join(ROOT, TREE)] : V1_CONTROLLERS.map((c) => join(ROOT, c, TREE));
		try {
			for (const tree of trees) {
				await mkdir(tree, { recursive: true });
				await removeStaleRuns(tree);
				await mkdir(join(tree, runName));
			}
			if (version === 2) {
				await enableV2Controllers([ROOT, join(ROOT, TREE), join(ROOT, TREE, runName)]);
			}
		} catch (error) {
			const reason = `cannot create cgroups under ${ROOT} (${(error as Error).message})`;
			return new Cgroups(null, [], limits, { enforced: false, reason });
		}
		const runDirs = trees.map((tree) => join(tree, runName));
		return new Cgroups(version, runDirs, limits, { enforced: true, cgroupVersion: version });
	}

	/**
	 * Creates the cgroup for one sandbox and returns the `cgroup.procs` files a
	 * process writes its PID to in order to join it (empty when not enforced).
	 */
	async create(name: string): Promise<string[]> {
		if (this.version === null) return [];
		const { memoryBytes, cpus, pids } = this.limits;
		const quota = String(Math.round(cpus * CPU_PERIOD_US));
		const settings: Record<string, string> =
			this.version === 2
				? { 'memory.max': String(memoryBytes), 'memory.swap.max': '0', 'cpu.max': `${quota} ${CPU_PERIOD_US}`, 'pids.max': String(pids) }
				: {
						'memory/memory.limit_in_bytes': String(memoryBytes),
						'cpu/cpu.cfs_period_us': String(CPU_PERIOD_US),
						'cpu/cpu.cfs_quota_us': quota,
						'pids/pids.max': String(pids)
					};
		for (const dir of this.runDirs) await mkdir(join(dir, name));
		for (const [file, value] of Object.entries(settings)) {
			const path = this.version === 2 ? join(this.runDirs[0], name, file) : this.v1Path(name, file);
			await writeFile(path, value).catch(() => {
				// memory.swap.max is absent without swap accounting; the other limits still hold.
			});
		}
		return this.runDirs.map((dir) => join(dir, name, 'cgroup.procs'));
	}

	/** Removes a sandbox's cgroup; its processes must have exited. */
	async remove(name: string) {
		for (const dir of this.runDirs) await rmdirQuietly(join(dir, name));
	}

	/** Removes this run's whole tree (at shutdown, after every sandbox is gone). */
	async removeAll() {
		for (const dir of this.runDirs) {
			for (const child of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
				if (child.isDirectory()) await rmdirQuietly(join(dir, child.name));
			}
			await rmdirQuietly(dir);
		}
	}

	private v1Path(name: string, file: string) {
		const [controller, setting] = file.split('/');
		const dir = this.runDirs.find((d) => d.includes(`/${controller}/`))!;
		return join(dir, name, setting);
	}
}

async function enableV2Controllers(dirs: string[]) {
	for (const dir of dirs) await writeFile(join(dir, 'cgroup.subtree_control'), '+memory +cpu +pids');
}

async function removeStaleRuns(tree: string) {
	for (const run of await readdir(tree, { withFileTypes: true })) {
		if (!run.isDirectory() || !run.name.startsWith('run-') || isRunAlive(run.name)) continue;
		const dir = join(tree, run.name);
		for (const child of await readdir(dir, { withFileTypes: true })) {
			if (child.isDirectory()) await rmdirQuietly(join(dir, child.name));
		}
		await rmdirQuietly(dir);
	}
}

async function rmdirQuietly(dir: string) {
	// A cgroup directory is removed with rmdir (its files are virtual); it may already be gone.
	await rmdir(dir).catch(() => {});
}
