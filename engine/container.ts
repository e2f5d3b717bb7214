/**
 * One running local sandbox — the stand-in for a Cloudflare container:
 *
 *   engine ──spawn──▶ [as root: a private mount namespace with the disk image mounted, then the
 *      │               sandbox's own unprivileged host uid] bwrap (own user/mount/pid/ipc/uts/net
 *      │               namespaces) └─ the control server (control/, Node 24: the SDK's protocol
 *      │               on port 3000)
 *      ├──spawn──▶ slirp4netns ─ gives the namespace outbound network
 *      ├──nsenter──▶ port-forwarder.ts, in the namespace's network only: 127.0.0.1:<host port>
 *      │             on the host ─▶ <port> inside, opened on demand
 *      └──nsenter──▶ the egress rules (egress.ts) and no nested user namespaces, before any of the
 *                    sandbox's code runs
 *
 * The command that launches it, with bwrap's profile of it, is launch-command.ts's. What code inside
 * can reach: see docs/security.md. In short, when the engine is
 * root, a sandbox's root is an unprivileged host uid (never host root); bwrap itself starts with
 * an empty environment; /proc's host-global parts are read-only; /workspace is a disk of its own.
 *
 * Nothing here outlives the engine: bwrap runs with --die-with-parent (and the
 * kernel ends a PID namespace with its first process, and the disk's mount namespace
 * with its last), slirp4netns exits when the pipe it holds from the engine closes, the
 * port forwarder when its IPC channel does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { RuntimeError } from './errors.ts';
import type { Programs } from './programs.ts';
import { HOST_TOOLS_ENV, runTool } from './host-tools.ts';
import { ENV_ARGS_FD, envArgs, launchCommand } from './launch-command.ts';
import { childrenOf, liveProcesses, pidNamespaceOf } from './proc.ts';

const CONTROL_READY = 'control server ready';
const START_TIMEOUT_MS = 15_000;

export interface StartSpec {
	env: Record<string, string>;
	enableInternet: boolean;
}

export interface ContainerPaths {
	/**
	 * The sandbox's own directory on the host: the workspace's mount point and disk image, and the
	 * mount points of what the sandbox sees of the host's files.
	 */
	dir: string;
	/** Files written once per run and mounted into every sandbox. */
	resolvConf: string;
	hosts: string;
}

/**
 * As root: the unprivileged host uid (and gid) the sandbox's processes run as, its root inside
 * mapped to it, and the empty disk image its /workspace is a copy of. As a normal user: sandboxes
 * run as that user, like rootless containers, with a tmpfs /workspace of the quota's size.
 */
export type Isolation = { asRoot: true; hostUid: number; diskTemplate: string } | { asRoot: false; tmpfsBytes: number };

export interface ContainerOptions {
	id: string;
	spec: StartSpec;
	/** The engine's built programs (programs.ts). */
	programs: Programs;
	/** The template folders, mounted read-only at /templates. */
	templates: string;
	paths: ContainerPaths;
	/** `cgroup.procs` files the sandbox joins before it starts (empty: no limits). */
	cgroupProcs: string[];
	isolation: Isolation;
	/** `ip -batch` lines for the sandbox's network namespace (see egress.ts). */
	egressRoutes: string[];
	/** The sandbox's first process exited by itself (not by stop()), with this code. */
	onExit: (exitCode: number) => void;
	log: (message: string) => void;
}

export class Container {
	private readonly options: ContainerOptions;
	private bwrap: ChildProcess | null = null;
	private slirp: ChildProcess | null = null;
	private forwarder: Promise<ChildProcess> | null = null;
	/** IDs of the forwards open now. */
	private readonly forwards = new Set<number>();
	private nextForwardId = 1;
	/** The host PID of bwrap's init in the sandbox's PID namespace (its network namespace's holder). */
	private childPid = 0;
	private pidNamespace = '';
	private stopping = false;
	/** Set once boot finished: only then is an exit news for the engine (a failed boot is reported by start()). */
	private started = false;
	private readonly bwrapExited: Promise<void>;
	private markBwrapExited!: () => void;

	private constructor(options: ContainerOptions) {
		this.options = options;
		this.bwrapExited = new Promise((resolve) => (this.markBwrapExited = resolve));
	}

	/** Starts the sandbox and resolves once its network, control server and port forwarder are ready. Cleans up fully on failure. */
	static async start(options: ContainerOptions): Promise<Container> {
		const container = new Container(options);
		try {
			await withTimeout(container.boot(), START_TIMEOUT_MS, 'the sandbox did not start');
			return container;
		} catch (error) {
			await container.stop();
			throw new RuntimeError('SANDBOX_START_FAILED', `Sandbox ${options.id} failed to start: ${(error as Error).message}`);
		}
	}

	private async boot() {
		const { paths } = this.options;
		await mkdir(paths.dir, { recursive: true, mode: 0o700 });
		// Which sandbox this directory holds, for people (and tests) looking at the host.
		await writeFile(join(paths.dir, 'id'), `${this.options.id}\n`);
		const command = await launchCommand(this.options);
		const bwrap = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'], env: HOST_TOOLS_ENV, cwd: '/' });
		this.bwrap = bwrap;
		const envPipe = bwrap.stdio[ENV_ARGS_FD] as Writable;
		envPipe.on('error', () => {});
		envPipe.end(envArgs(this.options.spec.env));
		bwrap.on('exit', (code, signal) => this.onBwrapExit(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
		// A launch that cannot even spawn ends like one that exits: start() reports it.
		bwrap.on('error', (error) => {
			this.options.log(`could not launch the sandbox: ${error.message}`);
			this.onBwrapExit(125);
		});
		createInterface({ input: bwrap.stderr! }).on('line', (line) => this.options.log(line));

		const info = JSON.parse(await readAll(bwrap.stdio[3] as Readable)) as { 'child-pid': number; 'pid-namespace': number };
		this.pidNamespace = `pid:[${info['pid-namespace']}]`;
		this.childPid = info['child-pid'];

		const lines = createInterface({ input: bwrap.stdout! });
		const programReady = new Promise<void>((resolve, reject) => {
			lines.once('line', (line) => (line === CONTROL_READY ? resolve() : reject(new Error(`the control server said: ${line}`))));
			void this.bwrapExited.then(() => reject(new Error('the sandbox exited during start')));
		});
		// The forwarder needs only the network namespace, which exists now: start it meanwhile.
		this.forwarder = this.startForwarder();
		// Heard by whoever awaits it (forward(), or the check below); never unhandled.
		this.forwarder.catch(() => {});
		// bwrap sets up the namespace's loopback itself: slirp4netns configuring
		// the same namespace at the same moment makes that fail now and then, so
		// the network comes once the program (and so bwrap's setup) is up.
		await programReady;
		const networked = this.options.spec.enableInternet;
		if (networked) await this.startNetwork(this.childPid);
		// Without its forwarder a container's ports are unreachable: that is a failed start.
		await this.forwarder;
		await this.seal(this.childPid, networked);
		lines.on('line', (line) => this.options.log(line));
		this.started = true;
	}

	private async startNetwork(childPid: number) {
		const target =
			!this.options.isolation.asRoot
				? // As the namespace's owner: slirp4netns joins the sandbox's user namespace to reach it.
					[String(childPid)]
				: // As root: straight into the network namespace, and into a sandbox of slirp4netns's own
					// (no capabilities, an empty root) once it is set up.
					['--enable-sandbox', '--netns-type=path', `/proc/${childPid}/ns/net`];
		const args = ['--configure', '--mtu=65520', '--disable-host-loopback'];
		// fd 4 stays open as long as this process lives: when the engine dies,
		// even by SIGKILL, slirp4netns sees it close and exits.
		args.push('--ready-fd=3', '--exit-fd=4', ...target, 'tap0');
		const slirp = spawn('slirp4netns', args, {
			stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
			env: HOST_TOOLS_ENV,
			// Names the sandbox it serves, for people (and tests) reading `ps`.
			argv0: `slirp4netns:${this.options.paths.dir}`
		});
		this.slirp = slirp;
		const errors: string[] = [];
		createInterface({ input: slirp.stderr! }).on('line', (line) => errors.push(line));
		await new Promise<void>((resolve, reject) => {
			(slirp.stdio[3] as Readable).once('data', () => resolve());
			slirp.once('exit', (code) => reject(new Error(`slirp4netns exited (${code}): ${errors.join(' ')}`)));
			slirp.once('error', reject);
		});
	}

	/**
	 * From outside, with the rights over the sandbox's namespaces that its own processes lack: sets
	 * the egress routes in its network namespace, and forbids user namespaces inside it (their
	 * capabilities are a common first step of kernel exploits, and would be the way to a network
	 * namespace without these routes). The engine is root here, or the user namespace's owner.
	 */
	private seal(childPid: number, networked: boolean): Promise<void> {
		const script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec ip -batch -';
		// The owner keeps its uid, which is root inside (it may not set groups there); root takes uid 0 inside.
		const credentials = this.options.isolation.asRoot ? [] : ['--preserve-credentials'];
		const args = [`--target=${childPid}`, '--user', '--net', ...credentials, 'sh', '-c', script];
		// Without a network (no slirp4netns, so no tap0), the routes that open an allowed range through
		// the gateway cannot be set, and would open nothing: only the denials go in.
		const routes = networked ? this.options.egressRoutes : this.options.egressRoutes.filter((line) => line.startsWith('route add unreachable '));
		return runTool('nsenter', args, `${routes.join('\n')}\n`);
	}

	/**
	 * Opens a free 127.0.0.1 port on the host that leads to `guestPort` inside; returns the host
	 * port and the ID to close it with. With a token, a connection whose first request does not
	 * carry it is reset (see forwarded-head.ts); so is one while nothing listens inside.
	 */
	async forward(guestPort: number, token?: string): Promise<{ hostPort: number; ruleId: number }> {
		const exited = this.bwrap?.exitCode !== null || this.bwrap?.signalCode !== null;
		if (this.stopping || !this.started || exited || !this.forwarder) {
			throw new RuntimeError('SANDBOX_STOPPED', `Sandbox ${this.options.id} is not running`);
		}
		const forwarder = await this.forwarder;
		const server = createServer();
		// Until this copy closes, a connection may land here instead of in the forwarder: nobody has
		// been told the port yet, so it is a stray (a scan), and ends at once — kept with no 'error'
		// listener, its reset would be thrown, and end the engine.
		server.on('connection', (socket) => socket.destroy());
		try {
			await new Promise<void>((resolve, reject) => {
				server.once('error', reject);
				// A backlog like any server's: a burst of connections waits instead of being refused.
				server.listen({ host: '127.0.0.1', port: 0, backlog: 511 }, resolve);
			});
			const hostPort = (server.address() as { port: number }).port;
			const ruleId = this.nextForwardId++;
			await new Promise<void>((resolve, reject) =>
				forwarder.send({ open: ruleId, guestPort, token }, server, (error) => (error ? reject(error) : resolve()))
			);
			this.forwards.add(ruleId);
			return { hostPort, ruleId };
		} finally {
			// The forwarder holds its own copy of the socket now (or none, if the handover failed).
			server.close();
		}
	}

	async unforward(ruleId: number) {
		if (!this.forwards.delete(ruleId)) return;
		const forwarder = await this.forwarder;
		if (forwarder?.connected) forwarder.send({ close: ruleId });
	}

	/**
	 * The forwarder (port-forwarder.ts) runs in the sandbox's network namespace only, as the
	 * engine's user: as root straight into the namespace; as its owner through its user namespace.
	 */
	private async startForwarder(): Promise<ChildProcess> {
		const namespaces = this.options.isolation.asRoot
			? [`--net=/proc/${this.childPid}/ns/net`]
			: [`--target=${this.childPid}`, '--user', '--net', '--preserve-credentials'];
		const program = [process.execPath, this.options.programs.portForwarder, this.options.paths.dir];
		const forwarder = spawn('nsenter', [...namespaces, ...program], {
			stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
			env: HOST_TOOLS_ENV,
			cwd: '/'
		});
		createInterface({ input: forwarder.stderr! }).on('line', (line) => this.options.log(`port forwarder: ${line}`));
		await new Promise<void>((resolve, reject) => {
			forwarder.once('message', () => resolve());
			forwarder.once('exit', (code) => reject(new Error(`the port forwarder exited (${code})`)));
			forwarder.once('error', reject);
		});
		// A container whose ports nobody can reach any more has failed: end it, and say so.
		forwarder.once('exit', () => {
			if (this.stopping) return;
			this.options.log('the port forwarder exited: stopping the sandbox');
			this.bwrap?.kill('SIGKILL');
		});
		return forwarder;
	}

	/**
	 * Sends a signal to the sandbox's program, the control server. Not to bwrap's init,
	 * the namespace's PID 1: the kernel drops signals from outside that PID 1 has no handler for.
	 */
	signal(signal: number) {
		if (!this.childPid || this.stopping || this.bwrap?.exitCode !== null) return;
		for (const pid of childrenOf(this.childPid)) {
			try {
				process.kill(pid, signal);
			} catch {
				// It exited meanwhile: the exit is reported as usual.
			}
		}
	}

	/**
	 * Ends every process of the sandbox and removes its files. Resolves only
	 * when no process of its PID namespace is left.
	 */
	async stop() {
		this.stopping = true;
		if (this.bwrap && this.bwrap.exitCode === null && this.bwrap.signalCode === null) {
			this.bwrap.kill('SIGKILL');
			await this.bwrapExited;
		}
		for (const helper of [this.slirp, await this.forwarder?.catch(() => null)]) {
			if (!helper || helper.exitCode !== null || helper.signalCode !== null) continue;
			const exited = new Promise((resolve) => helper.once('exit', resolve));
			helper.kill('SIGKILL');
			await exited;
		}
		this.forwards.clear();
		if (this.pidNamespace) await waitUntilEmpty(this.pidNamespace);
		// The disk's mount went with the last process of its namespace: what is left is a file.
		await rm(this.options.paths.dir, { recursive: true, force: true });
	}

	private onBwrapExit(exitCode: number) {
		this.markBwrapExited();
		if (this.started && !this.stopping) this.options.onExit(exitCode);
	}
}

function readAll(stream: Readable): Promise<string> {
	return new Promise((resolve, reject) => {
		let text = '';
		stream.setEncoding('utf8');
		stream.on('data', (chunk: string) => (text += chunk));
		stream.on('end', () => resolve(text));
		stream.on('error', reject);
	});
}

/** Waits (up to 5 s) until no process is left in the given PID namespace. */
async function waitUntilEmpty(namespace: string) {
	const processesIn = () => liveProcesses().filter((process) => pidNamespaceOf(process.pid) === namespace).length;
	for (let i = 0; i < 100 && processesIn() > 0; i++) {
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: NodeJS.Timeout;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
