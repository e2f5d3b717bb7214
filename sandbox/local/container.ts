/**
 * One running local sandbox — the stand-in for a Cloudflare container:
 *
 *   runtime ──spawn──▶ bwrap (own user/mount/pid/ipc/uts/net namespaces)
 *      │                 └─ agent.ts (Node 24) ─▶ the sandbox's commands and processes
 *      └──spawn──▶ slirp4netns ─ gives the namespace outbound network and
 *                               forwards 127.0.0.1:<host port> ─▶ <sandbox port>
 *
 * Nothing here outlives the runtime: bwrap runs with --die-with-parent (and the
 * kernel ends a PID namespace with its first process), slirp4netns exits when
 * the pipe it holds from the runtime closes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AGENT_READY, type AgentOperation, type AgentOperations, type AgentResponse } from './agent-protocol.ts';
import { RuntimeError } from './errors.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const AGENT_FILES = ['agent.ts', 'agent-protocol.ts'];
const TEMPLATES = join(HERE, '..', 'templates');
const START_TIMEOUT_MS = 15_000;
const TRUST_VARIABLES = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];

export interface ContainerPaths {
	/** Host directory mounted read-write at /workspace. */
	workspace: string;
	/** slirp4netns API socket (kept short: unix socket paths are limited to 108 bytes). */
	apiSocket: string;
	/** Files written once per run and mounted into every sandbox. */
	resolvConf: string;
	hosts: string;
}

export interface ContainerOptions {
	id: string;
	paths: ContainerPaths;
	/** `cgroup.procs` files the sandbox joins before it starts (empty: no limits). */
	cgroupProcs: string[];
	onExit: () => void;
	log: (message: string) => void;
}

export class Container {
	private readonly options: ContainerOptions;
	private bwrap: ChildProcess | null = null;
	private slirp: ChildProcess | null = null;
	private pidNamespace = '';
	private nextRequestId = 1;
	private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
	private stopping = false;
	/** Set once boot finished: only then is an exit news for the runtime (a failed boot is reported by start()). */
	private started = false;
	private readonly bwrapExited: Promise<void>;
	private markBwrapExited!: () => void;

	private constructor(options: ContainerOptions) {
		this.options = options;
		this.bwrapExited = new Promise((resolve) => (this.markBwrapExited = resolve));
	}

	/** Starts the sandbox and resolves once its network and agent are ready. Cleans up fully on failure. */
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
		const { paths, cgroupProcs } = this.options;
		await mkdir(paths.workspace, { recursive: true });

		// A tiny shell joins the cgroups first, so that bwrap and everything it
		// starts are counted against the limits from their first instruction.
		const joinCgroups = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
		const bwrap = spawn('/bin/sh', ['-c', joinCgroups, 'sh', ...cgroupProcs, '--', 'bwrap', ...bwrapArgs(paths)], {
			stdio: ['pipe', 'pipe', 'pipe', 'pipe']
		});
		this.bwrap = bwrap;
		bwrap.on('exit', () => this.onBwrapExit());
		// A write racing the agent's death fails with EPIPE; the exit handler reports it to callers.
		bwrap.stdin!.on('error', () => {});
		createInterface({ input: bwrap.stderr! }).on('line', (line) => this.options.log(line));

		const info = JSON.parse(await readAll(bwrap.stdio[3] as Readable)) as { 'child-pid': number; 'pid-namespace': number };
		this.pidNamespace = `pid:[${info['pid-namespace']}]`;

		const lines = createInterface({ input: bwrap.stdout! });
		const agentReady = new Promise<void>((resolve, reject) => {
			lines.once('line', (line) => (line === AGENT_READY ? resolve() : reject(new Error(`agent said: ${line}`))));
			void this.bwrapExited.then(() => reject(new Error('the sandbox exited during start')));
		});
		// bwrap sets up the namespace's loopback itself: slirp4netns configuring
		// the same namespace at the same moment makes that fail now and then, so
		// the network comes once the agent (and so bwrap's setup) is up.
		await agentReady;
		await this.startNetwork(info['child-pid']);
		lines.on('line', (line) => this.onAgentLine(line));
		this.started = true;
	}

	private async startNetwork(childPid: number) {
		const slirp = spawn(
			'slirp4netns',
			[
				'--configure',
				'--mtu=65520',
				'--disable-host-loopback',
				`--api-socket=${this.options.paths.apiSocket}`,
				'--ready-fd=3',
				'--exit-fd=4',
				String(childPid),
				'tap0'
			],
			// fd 4 stays open as long as this process lives: when the runtime dies,
			// even by SIGKILL, slirp4netns sees it close and exits.
			{ stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] }
		);
		this.slirp = slirp;
		const errors: string[] = [];
		createInterface({ input: slirp.stderr! }).on('line', (line) => errors.push(line));
		await new Promise<void>((resolve, reject) => {
			(slirp.stdio[3] as Readable).once('data', () => resolve());
			slirp.once('exit', (code) => reject(new Error(`slirp4netns exited (${code}): ${errors.join(' ')}`)));
			slirp.once('error', reject);
		});
	}

	/** Sends one request to the agent inside the sandbox. */
	call<Op extends AgentOperation>(op: Op, args: AgentOperations[Op]): Promise<unknown> {
		if (this.stopping || !this.bwrap?.stdin?.writable) {
			return Promise.reject(new RuntimeError('SANDBOX_STOPPED', `Sandbox ${this.options.id} is not running`));
		}
		const id = this.nextRequestId++;
		return new Promise((resolve, reject) => {
			this.pending.set(id, { resolve, reject });
			this.bwrap!.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
		});
	}

	private onAgentLine(line: string) {
		let response: AgentResponse;
		try {
			response = JSON.parse(line) as AgentResponse;
		} catch {
			this.options.log(`unexpected agent output: ${line.slice(0, 200)}`);
			return;
		}
		const waiter = this.pending.get(response.id);
		if (!waiter) return;
		this.pending.delete(response.id);
		if (response.ok) waiter.resolve(response.result);
		else waiter.reject(RuntimeError.fromAgent(response.error.code, response.error.message));
	}

	/** Forwards a free 127.0.0.1 port on the host to `guestPort` inside; returns the host port and the rule's ID. */
	async forward(guestPort: number): Promise<{ hostPort: number; ruleId: number }> {
		for (let attempt = 1; ; attempt++) {
			const hostPort = await freeLoopbackPort();
			try {
				const result = (await this.slirpApi('add_hostfwd', {
					proto: 'tcp',
					host_addr: '127.0.0.1',
					host_port: hostPort,
					guest_port: guestPort
				})) as { id: number };
				return { hostPort, ruleId: result.id };
			} catch (error) {
				// Another process may have taken the port between our probe and slirp's bind.
				if (attempt === 3) throw error;
			}
		}
	}

	async unforward(ruleId: number) {
		await this.slirpApi('remove_hostfwd', { id: ruleId });
	}

	private slirpApi(execute: string, args: object): Promise<unknown> {
		return new Promise((resolve, reject) => {
			const socket = createConnection(this.options.paths.apiSocket);
			let body = '';
			socket.setEncoding('utf8');
			socket.on('connect', () => socket.end(JSON.stringify({ execute, arguments: args })));
			socket.on('data', (chunk) => (body += chunk));
			socket.on('error', reject);
			socket.on('end', () => {
				try {
					const reply = JSON.parse(body) as { return?: unknown; error?: { desc: string } };
					if (reply.error) reject(new Error(`slirp4netns ${execute}: ${reply.error.desc}`));
					else resolve(reply.return);
				} catch {
					reject(new Error(`slirp4netns ${execute}: unreadable reply ${JSON.stringify(body.slice(0, 200))}`));
				}
			});
		});
	}

	/**
	 * Ends every process of the sandbox and removes its workspace. Resolves only
	 * when no process of its PID namespace is left.
	 */
	async stop() {
		this.stopping = true;
		if (this.bwrap && this.bwrap.exitCode === null && this.bwrap.signalCode === null) {
			this.bwrap.kill('SIGKILL');
			await this.bwrapExited;
		}
		if (this.slirp && this.slirp.exitCode === null && this.slirp.signalCode === null) {
			const exited = new Promise((resolve) => this.slirp!.once('exit', resolve));
			this.slirp.kill('SIGKILL');
			await exited;
		}
		if (this.pidNamespace) await waitUntilEmpty(this.pidNamespace);
		await rm(this.options.paths.workspace, { recursive: true, force: true });
		await rm(this.options.paths.apiSocket, { force: true });
	}

	private onBwrapExit() {
		this.markBwrapExited();
		const error = new RuntimeError('SANDBOX_STOPPED', `Sandbox ${this.options.id} stopped`);
		for (const waiter of this.pending.values()) waiter.reject(error);
		this.pending.clear();
		if (this.started && !this.stopping) this.options.onExit();
	}
}

/** The bwrap profile: the container's layout, with only /workspace and /tmp writable. */
function bwrapArgs(paths: ContainerPaths): string[] {
	const args = ['--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--info-fd', '3'];
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
	// The runtime's own Node (24, like the container image's) is the sandbox's `node`.
	args.push('--ro-bind', dirname(process.execPath), '/opt/node/bin');
	for (const file of AGENT_FILES) args.push('--ro-bind', join(HERE, file), `/opt/sandbox-agent/${file}`);
	// The template apps with their dependencies installed, where the container image puts them.
	args.push('--ro-bind', TEMPLATES, '/templates');
	args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
	args.push('--bind', paths.workspace, '/workspace', '--chdir', '/workspace');
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
	args.push('/opt/node/bin/node', '--disable-warning=ExperimentalWarning', '/opt/sandbox-agent/agent.ts');
	return args;
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

function freeLoopbackPort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as { port: number };
			server.close(() => resolve(port));
		});
	});
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
