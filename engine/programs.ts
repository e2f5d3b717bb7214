/**
 * The programs the engine runs in and beside each container — the control server (control/) inside,
 * the port forwarder in its network namespace — built once per run into one JavaScript file each.
 * Started from TypeScript, Node first loads its type stripper and then resolves and strips every
 * module (the control server has ~30, and valibot): that took most of a container's start and of its
 * CPU, which a burst of visitors on a small machine waits for. A bundle starts as plain JavaScript.
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface Programs {
	/** The control server, with its dependency inside: its directory is mounted read-only into every container. */
	controlServer: string;
	/** What runs the control server: the engine's own Node, or another control server's runtime. */
	controlRuntime: string;
	/** The port forwarder, run by the engine (as its user) in a container's network namespace. */
	portForwarder: string;
}

/**
 * A control server of another make, run in every container instead of ours (SANDBOX_ENGINE_CONTROL_SERVER):
 * a script and the program that runs it (the SDK's own server under Bun, to compare the two). Like
 * ours, it listens on port 3000 and prints `control server ready` on stdout once it does.
 */
export interface OtherControlServer {
	script: string;
	runtime: string;
}

export async function buildPrograms(outDir: string, other?: OtherControlServer): Promise<Programs> {
	const programs: Programs = {
		// In a directory of its own, which is what containers see of this run's programs.
		controlServer: other?.script ?? join(outDir, 'control', 'server.mjs'),
		controlRuntime: other?.runtime ?? process.execPath,
		portForwarder: join(outDir, 'port-forwarder.mjs')
	};
	await build({
		entryPoints: {
			'control/server': join(HERE, 'control', 'server.ts'),
			'port-forwarder': join(HERE, 'port-forwarder.ts')
		},
		outdir: outDir,
		outExtension: { '.js': '.mjs' },
		bundle: true,
		platform: 'node',
		format: 'esm',
		target: 'node24',
		// `ws` (the terminals' WebSocket server) is CommonJS: its require()s of Node's modules need a real require.
		banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
		logLevel: 'warning'
	});
	return programs;
}
