/**
 * The container engine: containers by name, as workerd's container API sees them — one per
 * Durable Object, named by its ID. Each runs the control server (control/), which speaks the
 * SDK's container protocol on port 3000, as Cloudflare's container image does. The Durable
 * Object's side of this contract is workerd/engine-container.ts; the HTTP face is engine-api.ts.
 *
 * What a container does here is what workerd expects of one: it starts with environment
 * variables, runs until its first process exits (the exit code is kept for whoever waits), takes
 * signals, is destroyed on request, and opens its ports to 127.0.0.1 on demand.
 */
import { randomBytes } from 'node:crypto';
import type { ContainerHost, Launched } from './container-host.ts';
import { RuntimeError } from './errors.ts';

interface Entry {
	name: string;
	launched: Promise<Launched>;
	/** Resolves with the exit code when the container has stopped, whatever stopped it. */
	exited: Promise<number>;
	markExited: (code: number) => void;
	exitCode: number | null;
	/** guest port → where it is open on 127.0.0.1. */
	ports: Map<number, Promise<OpenPort>>;
}

/** A container's port opened on the host: connections must name the token (see forwarded-head.ts). */
export interface OpenPort {
	hostPort: number;
	token: string;
}

export interface ContainerStatus {
	running: boolean;
	/** The exit code of the last run, once it has ended. */
	exitCode: number | null;
}

/** A destroyed container reports what a SIGKILLed process does. */
const DESTROYED_EXIT_CODE = 128 + 9;
/** Stopped containers remembered for their exit code; the oldest are forgotten past this. */
const MAX_STOPPED_ENTRIES = 1000;

export class ContainerEngine {
	private readonly host: ContainerHost;
	private readonly entries = new Map<string, Entry>();
	private readonly log: (message: string) => void;

	constructor(host: ContainerHost, log: (message: string) => void) {
		this.host = host;
		this.log = log;
	}

	/** Starts the named container; resolves once its control server listens. */
	async start(name: string, { env, enableInternet, label }: { env: Record<string, string>; enableInternet: boolean; label: string }): Promise<void> {
		if (this.entries.get(name)?.exitCode === null) {
			throw new RuntimeError('CONFLICT', `Container ${name} is already running`);
		}
		let markExited!: (code: number) => void;
		const exited = new Promise<number>((resolve) => (markExited = resolve));
		const entry: Entry = {
			name,
			launched: this.host.launch(label, { env, enableInternet }, markExited),
			exited,
			markExited,
			exitCode: null,
			ports: new Map()
		};
		this.entries.delete(name);
		this.entries.set(name, entry);
		this.forgetOldEntries();
		// However it ended (by itself, destroyed, failed to start): free what it held.
		void entry.exited.then(async (code) => {
			entry.exitCode = code;
			entry.ports.clear();
			try {
				await (await entry.launched.catch(() => null))?.release();
			} catch (error) {
				this.log(`cleaning up container ${label} failed: ${(error as Error).message}`);
			}
			this.log(`container ${label} stopped (${code}); ${this.host.running}/${this.host.max} running`);
		});
		try {
			await entry.launched;
		} catch (error) {
			markExited(1);
			throw error;
		}
		this.log(`container ${label} started; ${this.host.running}/${this.host.max} running`);
	}

	status(name: string): ContainerStatus {
		const entry = this.entries.get(name);
		return { running: entry !== undefined && entry.exitCode === null, exitCode: entry?.exitCode ?? null };
	}

	/** The exit code of the named container's current or last run, once it has ended. */
	async waitForExit(name: string): Promise<number> {
		const entry = this.entries.get(name);
		if (!entry) throw new RuntimeError('NOT_FOUND', `No container ${name}`);
		return entry.exited;
	}

	async signal(name: string, signal: number) {
		(await this.running(name).launched).container.signal(signal);
	}

	/** Stops the container at once (SIGKILL) and frees what it held. */
	async destroy(name: string) {
		const entry = this.entries.get(name);
		if (!entry) return;
		// A container that exited by itself meanwhile keeps its own exit code.
		entry.markExited(DESTROYED_EXIT_CODE);
		await (await entry.launched.catch(() => null))?.release().catch(() => {
			// Logged by the exit handler, which waits for the same release.
		});
	}

	/** Where `guestPort` of the named container is open on 127.0.0.1, and the token it asks for. */
	async port(name: string, guestPort: number): Promise<OpenPort> {
		const entry = this.running(name);
		let open = entry.ports.get(guestPort);
		if (!open) {
			const token = randomBytes(24).toString('base64url');
			open = entry.launched.then(async ({ container }) => ({ hostPort: (await container.forward(guestPort, token)).hostPort, token }));
			entry.ports.set(guestPort, open);
			open.catch(() => entry.ports.delete(guestPort));
		}
		return open;
	}

	/** Destroys every container (at shutdown). */
	async destroyAll() {
		await Promise.all([...this.entries.keys()].map((name) => this.destroy(name)));
	}

	private running(name: string): Entry {
		const entry = this.entries.get(name);
		if (!entry || entry.exitCode !== null) throw new RuntimeError('SANDBOX_STOPPED', `Container ${name} is not running`);
		return entry;
	}

	private forgetOldEntries() {
		const stopped = [...this.entries.values()].filter((entry) => entry.exitCode !== null);
		for (const entry of stopped.slice(0, Math.max(0, stopped.length - MAX_STOPPED_ENTRIES))) this.entries.delete(entry.name);
	}
}
