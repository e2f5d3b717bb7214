/**
 * How a container is launched: the command line that puts its first process in its cgroups, and,
 * as root, mounts its disk and drops to its own uid, then runs bwrap with the sandbox's profile
 * (what it sees of the host, what is writable, its environment). container.ts runs the command
 * and looks after what it starts.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ContainerOptions, ContainerPaths } from './container.ts';
import { copyDisk } from './disk.ts';
import type { Programs } from './programs.ts';

/** The descriptor bwrap reads the container's own environment variables from (see `envArgs`). */
export const ENV_ARGS_FD = 4;
/** The host's CA settings, passed in so that `npm install` works behind a TLS-inspecting proxy. */
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

/** Where the control server's directory is in a sandbox, and the directory of its runtime if that is not Node. */
const CONTROL_DIR = '/opt/sandbox-control';
const CONTROL_RUNTIME_DIR = '/opt/sandbox-control-runtime';

/** The directories bwrap mounts read-only into every sandbox: its Node, the control server's, the templates, and another control server's runtime. */
interface Sources {
	node: string;
	control: string;
	templates: string;
	runtime?: string;
}

function hostSources(programs: Programs, templates: string): Sources {
	const sources: Sources = { node: dirname(process.execPath), control: dirname(programs.controlServer), templates };
	return programs.controlRuntime === process.execPath ? sources : { ...sources, runtime: dirname(programs.controlRuntime) };
}

/** The control server's command line inside the sandbox: its runtime (the sandbox's Node, unless another), its script. */
function controlCommand(programs: Programs): string[] {
	const runtime = programs.controlRuntime === process.execPath ? '/opt/node/bin/node' : `${CONTROL_RUNTIME_DIR}/${basename(programs.controlRuntime)}`;
	return [runtime, `${CONTROL_DIR}/${basename(programs.controlServer)}`];
}

/**
 * How the container's control server runs: with the container's environment variables, and with
 * outbound network only if asked (workerd's `start({ env, enableInternet })`).
 */

/** Prepares the sandbox's directory for its launch (as root: its disk and mount points), and says how to launch it. */
export async function launchCommand({ paths, cgroupProcs, isolation, programs, templates }: Pick<ContainerOptions, 'paths' | 'cgroupProcs' | 'isolation' | 'programs' | 'templates'>): Promise<string[]> {
	if (!isolation.asRoot) {
		// Nothing to mount; /workspace is a tmpfs (see disk.ts).
		const bwrap = bwrapArgs(paths, hostSources(programs, templates), { tmpfsBytes: isolation.tmpfsBytes }, controlCommand(programs));
		return ['/bin/sh', '-c', LAUNCH, 'sh', ...cgroupProcs, '--', '--', 'bwrap', ...bwrap];
	}
	const { hostUid } = isolation;
	await chown(paths.dir, hostUid, hostUid);
	const workspace = join(paths.dir, 'workspace');
	const image = join(paths.dir, 'disk.img');
	const sources = hostSources(programs, templates);
	// Each source is bound where the sandbox's uid can reach it (a directory of the sandbox's own).
	const staged = Object.fromEntries(Object.keys(sources).map((name) => [name, join(paths.dir, `mnt-${name}`)])) as unknown as Sources;
	for (const dir of [workspace, ...Object.values(staged)]) await mkdir(dir);
	await copyDisk(isolation.diskTemplate, image);
	const binds = (Object.keys(staged) as (keyof Sources)[]).flatMap((name) => [sources[name]!, staged[name]!]);
	const user = [`--reuid=${hostUid}`, `--regid=${hostUid}`, '--clear-groups', '--'];
	const bwrap = bwrapArgs(paths, staged, { mountPoint: workspace }, controlCommand(programs));
	return [
		'unshare', '--mount', '--propagation=private', '/bin/sh', '-c', LAUNCH, 'sh', ...cgroupProcs, '--', image, workspace, String(hostUid), ...binds,
		'--', 'setpriv', ...user, 'bwrap', ...bwrap
	];
}

/**
 * The bwrap profile: the container's layout, with only /workspace and /tmp writable. Root inside
 * (as in the container image) is the user bwrap runs as outside. /workspace is the mounted disk
 * image, or a tmpfs of the quota's size.
 */
function bwrapArgs(paths: ContainerPaths, sources: Sources, workspace: { mountPoint: string } | { tmpfsBytes: number }, control: string[]): string[] {
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
	args.push('--ro-bind', sources.control, CONTROL_DIR);
	if (sources.runtime) args.push('--ro-bind', sources.runtime, CONTROL_RUNTIME_DIR);
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
	args.push(...control);
	return args;
}

/** bwrap's NUL-separated `--setenv` arguments for the container's own variables. */
export function envArgs(env: Record<string, string>): string {
	return Object.entries(env)
		.flatMap(([name, value]) => ['--setenv', name, value])
		.map((arg) => `${arg}\0`)
		.join('');
}
