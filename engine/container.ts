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
 * What code inside can reach: see docs/security.md. In short, when the engine is
 * root, a sandbox's root is an unprivileged host uid (never host root); bwrap itself starts with
 * an empty environment; /proc's host-global parts are read-only; /workspace is a disk of its own.
 *
 * Nothing here outlives the engine: bwrap runs with --die-with-parent (and the
 * kernel ends a PID namespace with its first process, and the disk's mount namespace
 * with its last), slirp4netns exits when the pipe it holds from the engine closes, the
 * port forwarder when its IPC channel does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { copyDisk } from './disk.ts';
import { RuntimeError } from './errors.ts';
import type { Programs } from './programs.ts';
import { HOST_TOOLS_ENV, runTool } from './host-tools.ts';

/** The project's templates (sandbox/templates/), mounted where the container image has them. */
const TEMPLATES_DIR = fileURLToPath(new URL('../sandbox/templates', import.meta.url));
const CONTROL_READY = 'control server ready';
/** The descriptor bwrap reads the container's environment variables from (see bwrapArgs). */
const ENV_ARGS_FD = 4;
const START_TIMEOUT_MS = 15_000;
const TRUST_VARIABLES = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

/**
 * Runs as the sandbox's first process: joins its cgroups, so that everything below counts against
 * the limits from its first instruction; as root, in a mount namespace of the sandbox's own, mounts
 * the disk image (its root given to the sandbox's uid) and binds the host's sources into the
 * sandbox's directory (where that uid can reach them, wherever the project lives); then becomes
 * the rest of its arguments.
 *   sh -c LAUNCH sh <cgroup.procs>... -- [<image> <mount point> <uid>] [<source> <target>]... -- <command>...
 */
const LAUNCH = [
	'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift',
	'if [ "$1" != -- ]; then mount -o loop,nosuid,nodev "$1" "$2" && rmdir "$2/lost+found" && chown "$3:$3" "$2" || exit 125; shift 3; fi',
	'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 125; shift 2; done; shift',
	'exec "$@"'
].join('\n');

/** What bwrap mounts read-only into every sandbox: its Node, the control server, the templates. */
interface Sources {
	node: string;
	program: string;
	templates: string;
}

function hostSources(programs: Programs): Sources {
	return { node: dirname(process.execPath), program: programs.controlServer, templates: TEMPLATES_DIR };
}

/**
 * How the container's control server runs: with the container's environment variables, and with
 * outbound network only if asked (workerd's `start({ env, enableInternet })`).
 */
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
		const { paths, cgroupProcs, isolation } = this.options;
		await mkdir(paths.dir, { recursive: true, mode: 0o700 });
		// Which sandbox this directory holds, for people (and tests) looking at the host.
		await writeFile(join(paths.dir, 'id'), `${this.options.id}\n`);
		let command: string[];
		if (!isolation.asRoot) {
			// Nothing to mount; /workspace is a tmpfs (see disk.ts).
			const bwrap = bwrapArgs(paths, hostSources(this.options.programs), { tmpfsBytes: isolation.tmpfsBytes });
			command = ['/bin/sh', '-c', LAUNCH, 'sh', ...cgroupProcs, '--', '--', 'bwrap', ...bwrap];
		} else {
			const { hostUid } = isolation;
			await chown(paths.dir, hostUid, hostUid);
			const workspace = join(paths.dir, 'workspace');
			const image = join(paths.dir, 'disk.img');
			const staged: Sources = { node: join(paths.dir, 'node'), program: join(paths.dir, 'program.mjs'), templates: join(paths.dir, 'templates') };
			// A bind's mount point is of its source's kind: the program is a file, the rest directories.
			for (const dir of [workspace, staged.node, staged.templates]) await mkdir(dir);
			await writeFile(staged.program, '');
			await copyDisk(isolation.diskTemplate, image);
			const sources = hostSources(this.options.programs);
			const binds = (Object.keys(staged) as (keyof Sources)[]).flatMap((name) => [sources[name], staged[name]]);
			const user = [`--reuid=${hostUid}`, `--regid=${hostUid}`, '--clear-groups', '--'];
			const bwrap = bwrapArgs(paths, staged, { mountPoint: workspace });
			command = [
				'unshare', '--mount', '--propagation=private', '/bin/sh', '-c', LAUNCH, 'sh', ...cgroupProcs, '--', image, workspace, String(hostUid), ...binds,
				'--', 'setpriv', ...user, 'bwrap', ...bwrap
			];
		}
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

/**
 * The bwrap profile: the container's layout, with only /workspace and /tmp writable. Root inside
 * (as in the container image) is the user bwrap runs as outside. /workspace is the mounted disk
 * image, or a tmpfs of the quota's size.
 */
function bwrapArgs(paths: ContainerPaths, sources: Sources, workspace: { mountPoint: string } | { tmpfsBytes: number }): string[] {
	// A user namespace always (bwrap's --unshare-all only tries one), so that root inside is the
	// outside user, not root; not bwrap's --disable-userns, whose nested namespace would show a
	// "0 0" uid_map inside and keep slirp4netns and nsenter out (seal() forbids them instead).
	const args = ['--unshare-all', '--unshare-user', '--uid', '0', '--gid', '0'];
	args.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--info-fd', '3');
	args.push('--hostname', 'sandbox', '--ro-bind', '/usr', '/usr');
	// Merged-/usr systems link /bin, /lib… into /usr; others have real directories.
	for (const dir of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
		const stat = lstatSync(dir, { throwIfNoEntry: false });
		if (stat?.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
		else if (stat?.isDirectory()) args.push('--ro-bind', dir, dir);
	}
	for (const file of ['/etc/ssl', '/etc/ca-certificates', '/etc/alternatives', '/etc/passwd', '/etc/group', '/etc/nsswitch.conf', '/etc/localtime']) {
		args.push('--ro-bind-try', file, file);
	}
	args.push('--ro-bind', paths.resolvConf, '/etc/resolv.conf', '--ro-bind', paths.hosts, '/etc/hosts');
	// The engine's own Node (24, like the container image's) is the sandbox's `node`.
	args.push('--ro-bind', sources.node, '/opt/node/bin');
	const script = '/opt/sandbox-control/server.mjs';
	args.push('--ro-bind', sources.program, script);
	// The template apps with their dependencies installed, where the container image puts them.
	args.push('--ro-bind', sources.templates, '/templates');
	args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
	// What /proc shows of the whole machine stays read-only (core_pattern, sysrq, …), whoever asks.
	args.push('--ro-bind', '/proc/sys', '/proc/sys');
	for (const entry of ['/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs']) args.push('--ro-bind-try', entry, entry);
	if ('mountPoint' in workspace) args.push('--bind', workspace.mountPoint, '/workspace');
	else args.push('--size', String(workspace.tmpfsBytes), '--tmpfs', '/workspace');
	args.push('--chdir', '/workspace');
	args.push('--clearenv');
	const env: Record<string, string> = {
		PATH: '/opt/node/bin:/usr/local/bin:/usr/bin:/bin',
		HOME: '/workspace',
		LANG: 'C.UTF-8',
		TMPDIR: '/tmp',
		HOSTNAME: 'sandbox',
		// Keep npm's cache out of the app's files.
		npm_config_cache: '/tmp/.npm',
		npm_config_update_notifier: 'false'
	};
	// Trust what the host trusts: a machine behind a TLS-inspecting proxy names
	// its CA bundle here, and `npm install` inside would fail without it.
	for (const name of TRUST_VARIABLES) {
		const path = process.env[name];
		if (!path?.startsWith('/')) continue;
		if (!path.startsWith('/etc/ssl/') && !path.startsWith('/usr/')) args.push('--ro-bind-try', path, path);
		env[name] = path;
	}
	for (const [name, value] of Object.entries(env)) args.push('--setenv', name, value);
	// The container's own variables (from its start; often API keys) come on top, as in an image's
	// environment — read by bwrap from a pipe (fd 4), not from its command line, which any local
	// user can read in /proc.
	args.push('--args', String(ENV_ARGS_FD));
	args.push('/opt/node/bin/node', script);
	return args;
}

/** bwrap's NUL-separated `--setenv` arguments for the container's own variables. */
function envArgs(env: Record<string, string>): string {
	return Object.entries(env)
		.flatMap(([name, value]) => ['--setenv', name, value])
		.map((arg) => `${arg}\0`)
		.join('');
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

/** The host PIDs of a process's children. */
function childrenOf(pid: number): number[] {
	try {
		return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
	} catch {
		return [];
	}
}

/** Waits (up to 5 s) until no process is left in the given PID namespace. */
async function waitUntilEmpty(namespace: string) {
	for (let i = 0; i < 100 && processesIn(namespace) > 0; i++) {
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** Live processes in the PID namespace. Zombies don't count: they hold nothing and wait for init to reap them. */
function processesIn(namespace: string): number {
	let count = 0;
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			if (readlinkSync(`/proc/${entry}/ns/pid`) !== namespace) continue;
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
			if (stat[stat.lastIndexOf(')') + 2] !== 'Z') count++;
		} catch {
			// The process exited while we looked.
		}
	}
	return count;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: NodeJS.Timeout;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
