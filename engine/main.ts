/**
 * Starts the local container engine: a container runtime without Docker, whose contract is
 * workerd's container API. The SDK's `Sandbox` Durable Objects, in workerd, start, signal, destroy
 * and reach their containers through it (workerd/engine-container.ts over engine-api.ts); each
 * container runs the control server (control/), as Cloudflare's container image does.
 * `npm run dev` and `npm run preview` start it through launch.ts (startEngine), as do the
 * tests; `npm run engine` runs it on its own.
 *
 * Configuration (environment):
 *   SANDBOX_ENGINE_SECRET     bearer secret for API calls (generated and printed when unset)
 *   SANDBOX_ENGINE_PORT       port on 127.0.0.1 (default 0: any free port)
 *   SANDBOX_ENGINE_MAX        running containers at once (default: as many as fit in the machine's
 *                            memory at SANDBOX_ENGINE_MEMORY_MB each, at most 4 per core, between 1 and 64)
 *   SANDBOX_ENGINE_MEMORY_MB, SANDBOX_ENGINE_CPUS, SANDBOX_ENGINE_PIDS  per-sandbox limits (1024, 1, 512)
 *   SANDBOX_ENGINE_DISK_MB    size of each container's /workspace (default 8192, the standard-1 instance's disk)
 *   SANDBOX_ENGINE_EGRESS_ALLOW comma-separated IPv4 ranges a container may reach although private (default none)
 *   SANDBOX_ENGINE_UID_BASE   as root: the Nth container runs as host uid BASE + N (default 2000000000)
 *   SANDBOX_ENGINE_STATE_DIR  where containers' files live (default $TMPDIR/sandbox-engine)
 *   SANDBOX_ENGINE_TEMPLATES_DIR  the template folders every container sees at /templates, as the
 *                            image has them (default: the project's sandbox/templates)
 *   SANDBOX_ENGINE_CONTROL_SERVER, SANDBOX_ENGINE_CONTROL_RUNTIME  another control server to run in
 *                            every container instead of ours, and the program that runs it (absolute
 *                            paths, both or neither; see programs.ts): the SDK's own, to compare
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { Cgroups } from './cgroups.ts';
import { ContainerHost } from './container-host.ts';
import { createDiskTemplate } from './disk.ts';
import { ContainerEngine } from './engine.ts';
import { EgressAllowList, egressRoutes, hostAddresses } from './egress.ts';
import { buildPrograms, type OtherControlServer } from './programs.ts';
import { currentRunKey, isRunAlive } from './runs.ts';
import { createEngineServer } from './server.ts';

const Integer = (min: number, max: number, fallback: number) =>
	v.pipe(v.optional(v.string(), String(fallback)), v.transform(Number), v.integer(), v.minValue(min), v.maxValue(max));

const AbsolutePath = v.pipe(v.string(), v.startsWith('/', 'an absolute path'));

const Config = v.object({
	SANDBOX_ENGINE_SECRET: v.optional(v.pipe(v.string(), v.minLength(16, 'SANDBOX_ENGINE_SECRET must be at least 16 characters'))),
	SANDBOX_ENGINE_PORT: Integer(0, 65535, 0),
	SANDBOX_ENGINE_MAX: v.optional(v.pipe(v.string(), v.transform(Number), v.integer(), v.minValue(1), v.maxValue(256))),
	SANDBOX_ENGINE_MEMORY_MB: Integer(64, 1024 * 1024, 1024),
	SANDBOX_ENGINE_CPUS: v.pipe(v.optional(v.string(), '1'), v.transform(Number), v.minValue(0.05), v.maxValue(1024)),
	SANDBOX_ENGINE_PIDS: Integer(16, 1_000_000, 512),
	SANDBOX_ENGINE_DISK_MB: Integer(16, 16 * 1024 * 1024, 8192),
	SANDBOX_ENGINE_EGRESS_ALLOW: EgressAllowList,
	SANDBOX_ENGINE_UID_BASE: Integer(1000, 4_000_000_000, 2_000_000_000),
	SANDBOX_ENGINE_STATE_DIR: v.optional(v.string(), join(tmpdir(), 'sandbox-engine')),
	SANDBOX_ENGINE_TEMPLATES_DIR: v.optional(AbsolutePath, fileURLToPath(new URL('../sandbox/templates', import.meta.url))),
	SANDBOX_ENGINE_CONTROL_SERVER: v.optional(AbsolutePath),
	SANDBOX_ENGINE_CONTROL_RUNTIME: v.optional(AbsolutePath),
	/** Set by launch.ts: a pipe to report readiness on, whose closing means the launcher is gone. */
	SANDBOX_ENGINE_READY_FD: v.optional(v.pipe(v.string(), v.transform(Number), v.integer()))
});

/** The default SANDBOX_ENGINE_MAX: what this machine holds with every sandbox at its memory limit, and a few per core. */
function machineCapacity(memoryMb: number): number {
	const byMemory = Math.floor(totalmem() / (memoryMb * 1024 * 1024));
	return Math.max(1, Math.min(byMemory, availableParallelism() * 4, 64));
}

const log = (message: string) => console.log(`[engine] ${message}`);
/** Root maps each sandbox to an unprivileged host uid; a normal user's sandboxes run as that user. */
const asRoot = process.getuid?.() === 0;

function fail(message: string): never {
	console.error(`[engine] ${message}`);
	process.exit(1);
}

const found = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

function preflight() {
	const missing = ['bwrap', 'slirp4netns'].filter((command) => !found(command));
	if (missing.length > 0) {
		fail(
			`cannot start: ${missing.join(' and ')} not found.\n` +
				'The local container engine isolates each sandbox with bubblewrap and slirp4netns (Linux only):\n' +
				'  Debian/Ubuntu: sudo apt-get install bubblewrap slirp4netns\n' +
				'  Fedora:        sudo dnf install bubblewrap slirp4netns\n' +
				'  Arch:          sudo pacman -S bubblewrap slirp4netns\n' +
				'Without them (e.g. on macOS), run the app on the real Cloudflare container runtime instead:\n' +
				'start a Docker engine and use `npm run preview` (see README, "Which backend runs where").\n' +
				'There is no unisolated fallback.'
		);
	}
	const probe = spawnSync('bwrap', ['--unshare-all', '--die-with-parent', '--ro-bind', '/', '/', 'true'], { encoding: 'utf8' });
	if (probe.status !== 0) {
		fail(
			`cannot start: bubblewrap cannot create namespaces here (${probe.stderr.trim()}).\n` +
				'Unprivileged user namespaces may be disabled: see `sysctl kernel.unprivileged_userns_clone`\n' +
				'and, on Ubuntu 24.04+, `kernel.apparmor_restrict_unprivileged_userns`.'
		);
	}
	// util-linux and iproute2 on any Linux; e2fsprogs for the disk images that root makes.
	const tools = asRoot ? ['nsenter', 'ip', 'setpriv', 'unshare', 'mount', 'mkfs.ext4'] : ['nsenter', 'ip'];
	const missingTools = tools.filter((command) => !found(command));
	if (missingTools.length > 0) {
		fail(`cannot start: ${missingTools.join(', ')} not found (Debian/Ubuntu: sudo apt-get install util-linux mount iproute2 e2fsprogs)`);
	}
	if (process.versions.node.split('.')[0] !== '24') {
		log(`warning: running on Node ${process.versions.node}; sandboxes get this Node, the container image has Node 24`);
	}
}

/** SANDBOX_ENGINE_CONTROL_SERVER and _RUNTIME: both, or neither. */
function otherControlServer(script: string | undefined, runtime: string | undefined): OtherControlServer | undefined {
	if (script === undefined && runtime === undefined) return undefined;
	if (script === undefined || runtime === undefined) fail('SANDBOX_ENGINE_CONTROL_SERVER and SANDBOX_ENGINE_CONTROL_RUNTIME are set together, or not at all');
	for (const path of [script, runtime]) if (!existsSync(path)) fail(`${path} does not exist`);
	return { script, runtime };
}

/** Removes the state of runs that died without cleaning up (e.g. SIGKILL). */
async function removeStaleRuns(stateDir: string) {
	for (const entry of await readdir(stateDir)) {
		if (entry.startsWith('run-') && !isRunAlive(entry)) {
			log(`removing state of a crashed run: ${entry}`);
			await rm(join(stateDir, entry), { recursive: true, force: true });
		}
	}
}

/**
 * As root, bubblewrap runs as the sandbox's own unprivileged uid, which must be able to reach the
 * state directory: fails with the path to open up when it cannot.
 */
function checkReachableBy(uid: number, paths: string[]) {
	// Directories need search permission, files read permission.
	const check = 'for p; do if [ -d "$p" ]; then [ -x "$p" ]; else [ -r "$p" ]; fi || { echo "$p"; exit 1; }; done';
	const probe = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', 'sh', '-c', check, 'sh', ...paths], {
		encoding: 'utf8'
	});
	if (probe.status !== 0) {
		fail(
			`cannot start: sandboxes run as the unprivileged uid ${uid}, which cannot reach ${probe.stdout.trim() || paths.join(', ')}.\n` +
				'Make the directories on its way searchable by others (chmod o+x), or set SANDBOX_ENGINE_STATE_DIR\n' +
				'to a place that is (the default, under the system temporary directory, is).'
		);
	}
}

async function main() {
	const parsed = v.safeParse(Config, process.env);
	if (!parsed.success) fail(`invalid configuration: ${parsed.issues.map((i) => `${v.getDotPath(i)}: ${i.message}`).join('; ')}`);
	const config = parsed.output;
	const otherControl = otherControlServer(config.SANDBOX_ENGINE_CONTROL_SERVER, config.SANDBOX_ENGINE_CONTROL_RUNTIME);
	const maxContainers = config.SANDBOX_ENGINE_MAX ?? machineCapacity(config.SANDBOX_ENGINE_MEMORY_MB);
	preflight();

	const runName = `run-${currentRunKey}`;
	const runDir = join(config.SANDBOX_ENGINE_STATE_DIR, runName);
	// Others (the sandboxes' uids) may pass through to their own directories, but not list them.
	const dirMode = asRoot ? 0o711 : 0o700;
	await mkdir(config.SANDBOX_ENGINE_STATE_DIR, { recursive: true, mode: dirMode });
	await chmod(config.SANDBOX_ENGINE_STATE_DIR, dirMode);
	await removeStaleRuns(config.SANDBOX_ENGINE_STATE_DIR);
	await mkdir(join(runDir, 'sandboxes'), { recursive: true, mode: dirMode });
	await chmod(runDir, dirMode);
	const sharedFiles = { resolvConf: join(runDir, 'resolv.conf'), hosts: join(runDir, 'hosts') };
	// slirp4netns answers DNS at 10.0.2.3 and forwards it to the host's resolver.
	await writeFile(sharedFiles.resolvConf, 'nameserver 10.0.2.3\n');
	await writeFile(sharedFiles.hosts, '127.0.0.1 localhost sandbox\n::1 localhost\n');
	if (asRoot) {
		// The project's own files are bound into each sandbox's directory by root (container.ts).
		checkReachableBy(config.SANDBOX_ENGINE_UID_BASE + 1, [join(runDir, 'sandboxes'), sharedFiles.resolvConf, ...(otherControl ? [otherControl.script, otherControl.runtime] : [])]);
	}
	const diskBytes = config.SANDBOX_ENGINE_DISK_MB * 1024 * 1024;
	const diskTemplate = join(runDir, 'disk-template.img');
	if (asRoot) await createDiskTemplate(diskTemplate, diskBytes);

	const limits = {
		memoryBytes: config.SANDBOX_ENGINE_MEMORY_MB * 1024 * 1024,
		cpus: config.SANDBOX_ENGINE_CPUS,
		pids: config.SANDBOX_ENGINE_PIDS
	};
	const cgroups = await Cgroups.setUp(runName, limits);
	if (!cgroups.support.enforced) log(`resource limits not enforced: ${cgroups.support.reason}`);

	const programs = await buildPrograms(join(runDir, 'programs'), otherControl);
	if (otherControl) log(`every container runs ${otherControl.runtime} ${otherControl.script}, not our control server`);
	const host = new ContainerHost({
		maxContainers,
		isolation: asRoot
			? { asRoot, uidBase: config.SANDBOX_ENGINE_UID_BASE, diskTemplate }
			: { asRoot, tmpfsBytes: diskBytes },
		egressRoutes: egressRoutes({ hostAddresses: hostAddresses(), allow: config.SANDBOX_ENGINE_EGRESS_ALLOW }),
		runDir,
		sharedFiles,
		cgroups,
		programs,
		templates: config.SANDBOX_ENGINE_TEMPLATES_DIR,
		log
	});
	// The containers of the SDK's Durable Objects (in workerd).
	const engine = new ContainerEngine(host, log);
	const secret = config.SANDBOX_ENGINE_SECRET ?? randomBytes(32).toString('base64url');
	const server = createEngineServer({
		engine,
		secret,
		health: () => ({
			sandboxes: { running: host.running, max: host.max },
			limits: cgroups.support.enforced ? { enforced: true, ...limits } : cgroups.support
		})
	});

	let stopping: Promise<void> | null = null;
	const shutdown = (reason: string, code = 0) => {
		stopping ??= (async () => {
			log(`${reason}: destroying ${host.running} running sandbox(es)`);
			server.close();
			server.closeAllConnections();
			await engine.destroyAll();
			await cgroups.removeAll();
			await rm(runDir, { recursive: true, force: true });
			log('stopped');
			process.exit(code);
		})();
	};
	process.on('SIGINT', () => shutdown('SIGINT'));
	process.on('SIGTERM', () => shutdown('SIGTERM'));
	// The engine's output goes to whoever started it. Once that end is closed, every write fails: its
	// starter is gone, and so is the reason to run. (Unheard, the failure would be thrown, logged,
	// fail again, and spin the engine forever.)
	for (const output of [process.stdout, process.stderr]) output.on('error', () => shutdown('output closed'));
	process.on('uncaughtException', (error) => {
		console.error(error);
		shutdown('crashed', 1);
	});

	await new Promise<void>((resolve) => server.listen(config.SANDBOX_ENGINE_PORT, '127.0.0.1', resolve));
	// Once listening, an error of the server is one failed accept (too many open files): that
	// connection's loss, not the engine's end (unheard, it would be thrown, and crash the engine).
	server.on('error', (error) => log(`server: ${error.message}`));
	const { port } = server.address() as { port: number };
	const url = `http://127.0.0.1:${port}`;
	const limitText = cgroups.support.enforced
		? `${config.SANDBOX_ENGINE_MEMORY_MB} MiB, ${limits.cpus} CPU, ${limits.pids} pids each`
		: 'no resource limits';
	const sizedBy = config.SANDBOX_ENGINE_MAX === undefined ? ', sized to this machine: SANDBOX_ENGINE_MAX sets it' : '';
	log(`listening on ${url}: up to ${maxContainers} sandboxes at once${sizedBy} (${limitText})`);

	if (config.SANDBOX_ENGINE_READY_FD !== undefined) {
		// A socket pair from the launcher, held open for as long as the launcher lives.
		const channel = new Socket({ fd: config.SANDBOX_ENGINE_READY_FD, readable: true, writable: true });
		channel.write(`${JSON.stringify({ url, maxContainers })}\n`);
		channel.on('end', () => shutdown('launcher gone'));
		channel.on('error', () => shutdown('launcher gone'));
		channel.resume();
	} else if (config.SANDBOX_ENGINE_SECRET === undefined) {
		log(`a worker reaches it with the variables\n  SANDBOX_ENGINE_URL=${url}\n  SANDBOX_ENGINE_SECRET=${secret}`);
	}
}

await main();
