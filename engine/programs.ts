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
	/** The control server, with its dependency inside: mounted read-only into every container. */
	controlServer: string;
	/** The port forwarder, run by the engine (as its user) in a container's network namespace. */
	portForwarder: string;
}

export async function buildPrograms(outDir: string): Promise<Programs> {
	const programs: Programs = {
		controlServer: join(outDir, 'control-server.mjs'),
		portForwarder: join(outDir, 'port-forwarder.mjs')
	};
	await build({
		entryPoints: {
			'control-server': join(HERE, 'control', 'server.ts'),
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
