/**
 * What every container of this engine gets from the machine, whoever asked for it: a slot under
 * the limit on running containers, a directory, a cgroup with the limits, a host uid of its own
 * (as root), the egress rules. The engine (engine.ts) launches every container through here, so
 * that they share one count and never get the same uid or directory.
 */
import { join } from 'node:path';
import type { Cgroups } from './cgroups.ts';
import { Container, type ContainerPaths, type StartSpec } from './container.ts';
import { RuntimeError } from './errors.ts';
import type { Programs } from './programs.ts';

export interface HostSettings {
	maxContainers: number;
	/**
	 * As root, the Nth container runs as host uid `uidBase + N` with a copy of `diskTemplate`; as a
	 * normal user, as that user with a tmpfs of `tmpfsBytes` (see container.ts).
	 */
	isolation: { asRoot: true; uidBase: number; diskTemplate: string } | { asRoot: false; tmpfsBytes: number };
	egressRoutes: string[];
	runDir: string;
	sharedFiles: Pick<ContainerPaths, 'resolvConf' | 'hosts'>;
	cgroups: Cgroups;
	/** The control server and the port forwarder, built for this run (programs.ts). */
	programs: Programs;
	/** The template folders every container sees at /templates. */
	templates: string;
	log: (message: string) => void;
}

export interface Launched {
	container: Container;
	/** Stops the container and frees its slot, cgroup and files. */
	release(): Promise<void>;
}

export class ContainerHost {
	private readonly settings: HostSettings;
	private nextKey = 1;
	private active = 0;

	constructor(settings: HostSettings) {
		this.settings = settings;
	}

	get running(): number {
		return this.active;
	}

	get max(): number {
		return this.settings.maxContainers;
	}

	/**
	 * Starts a container as `spec` says; resolves once it is ready. `onExit` hears of an exit the
	 * container made by itself (the slot stays taken until `release`).
	 */
	async launch(id: string, spec: StartSpec, onExit: (exitCode: number) => void): Promise<Launched> {
		const { maxContainers, runDir, sharedFiles, cgroups, isolation, egressRoutes, programs, templates, log } = this.settings;
		if (this.active >= maxContainers) {
			throw new RuntimeError(
				'CAPACITY_EXCEEDED',
				`Maximum number of running sandboxes exceeded (${maxContainers} of ${maxContainers} running). ` +
					'Try again once one is destroyed or goes idle.',
				{ retryable: true }
			);
		}
		this.active++;
		const key = String(this.nextKey++);
		const cgroupName = `sandbox-${key}`;
		let container: Container;
		try {
			container = await Container.start({
				id,
				spec,
				programs,
				templates,
				// By key, not ID: a destroy racing a new container of the same ID never touches the new one's files.
				paths: { ...sharedFiles, dir: join(runDir, 'sandboxes', key) },
				cgroupProcs: await cgroups.create(cgroupName),
				// One host uid per container: none shares files or signals with another, nor with the host.
				isolation: isolation.asRoot
					? { asRoot: true, hostUid: isolation.uidBase + Number(key), diskTemplate: isolation.diskTemplate }
					: isolation,
				egressRoutes,
				onExit,
				log: (line) => log(`[${id}] ${line}`)
			});
		} catch (error) {
			await cgroups.remove(cgroupName);
			this.active--;
			throw error;
		}
		let released: Promise<void> | undefined;
		return {
			container,
			release: () =>
				(released ??= (async () => {
					try {
						await container.stop();
						await cgroups.remove(cgroupName);
					} finally {
						// Whatever failed is logged by the caller; the slot is free either way.
						this.active--;
					}
				})())
		};
	}
}
