/**
 * Builds the SDK's own container control server from a checkout of cloudflare/sandbox-sdk, so that
 * the conformance suite can run against it in the engine's containers instead of ours:
 *
 *   git clone https://github.com/cloudflare/sandbox-sdk ~/sandbox-sdk
 *   git -C ~/sandbox-sdk checkout @cloudflare/sandbox@0.12.10
 *   npm run conformance:sdk-server -- ~/sandbox-sdk
 *   SANDBOX_CONFORMANCE=sdk-server npx vitest run tests/conformance
 *
 * What it makes, in $TMPDIR/sandbox-sdk-server (or the second argument): Bun, from the npm registry,
 * at the version the checkout names (.bun-version); `server/index.js`, the server bundled as the
 * SDK's Dockerfile bundles it (`bun build src/legacy.ts`); and `server/ready.mjs` beside it, which
 * runs that bundle as the engine runs a control server (see engine/programs.ts): its log on stderr,
 * and `control server ready` on stdout once it answers on port 3000, with SANDBOX_VERSION the
 * checkout's release (as the SDK's image build sets it). Nothing of the checkout is copied into this
 * project.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where the conformance harness looks for the build unless told (SANDBOX_SDK_SERVER_DIR). */
export const DEFAULT_SDK_SERVER_DIR = join(tmpdir(), 'sandbox-sdk-server');

/** What the engine runs in each container (the shim, and Bun), and the SDK release it was built from. */
export function sdkServerPrograms(dir = process.env.SANDBOX_SDK_SERVER_DIR ?? DEFAULT_SDK_SERVER_DIR) {
	const [script, runtime, versionFile] = [join(dir, 'server', 'ready.mjs'), join(dir, 'bun', 'bin', 'bun'), join(dir, 'server', 'version')];
	for (const path of [script, runtime, versionFile]) {
		if (!existsSync(path)) throw new Error(`${path} is missing: build the SDK's server first (npm run conformance:sdk-server -- <sandbox-sdk checkout>)`);
	}
	return { script, runtime, version: readFileSync(versionFile, 'utf8').trim() };
}

/** The packages of the checkout the server is built from (its workspace's other packages are left out). */
const PACKAGES = ['packages/shared', 'packages/sandbox-container', 'tooling/typescript-config'];

/** The shim, with the version the image would have in SANDBOX_VERSION (the SDK's release the checkout is of). */
const readyShim = (version: string) => `// Written by tests/conformance/sdk-server.ts: runs the SDK's control server (index.js, beside this
// file) as the engine runs a control server. Its log goes to stderr; stdout says when it answers.
process.env.SANDBOX_VERSION ??= ${JSON.stringify(version)};
// The code interpreters' executors are not where the image has them: none are started ahead.
for (const pool of ['PYTHON', 'JAVASCRIPT', 'TYPESCRIPT']) process.env[\`\${pool}_POOL_MIN_SIZE\`] ??= '0';
const say = console.log.bind(console);
for (const level of ['log', 'info', 'debug', 'warn']) console[level] = console.error.bind(console);
await import('./index.js');
for (;;) {
	const answered = await fetch('http://127.0.0.1:3000/api/ping').then((response) => response.ok, () => false);
	if (answered) break;
	await Bun.sleep(20);
}
say('control server ready');
`;

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
	console.log(`$ ${command} ${args.join(' ')}`);
	execFileSync(command, args, { cwd, env, stdio: 'inherit' });
}

function build(checkout: string, outDir: string) {
	for (const path of PACKAGES) {
		if (!existsSync(join(checkout, path))) throw new Error(`${checkout} is not a checkout of cloudflare/sandbox-sdk: it has no ${path}`);
	}
	rmSync(outDir, { recursive: true, force: true });
	mkdirSync(outDir, { recursive: true, mode: 0o755 });

	const bunVersion = readFileSync(join(checkout, '.bun-version'), 'utf8').trim();
	const arch = process.arch === 'arm64' ? 'aarch64' : 'x64';
	run('npm', ['pack', '--silent', `@oven/bun-linux-${arch}@${bunVersion}`], outDir);
	run('tar', ['xzf', `oven-bun-linux-${arch}-${bunVersion}.tgz`], outDir);
	run('mv', ['package', 'bun'], outDir);
	rmSync(join(outDir, `oven-bun-linux-${arch}-${bunVersion}.tgz`));
	const env = { ...process.env, PATH: `${join(outDir, 'bun', 'bin')}:${process.env.PATH}`, BUN_INSTALL_CACHE_DIR: join(outDir, 'bun-cache') };

	// A workspace of the server's packages only: the checkout's own root names packages left out.
	const source = join(outDir, 'source');
	for (const path of PACKAGES) {
		cpSync(join(checkout, path), join(source, path), { recursive: true, filter: (from) => !/[/\\](node_modules|dist)$/.test(from) });
	}
	const devDependencies = { typescript: '^5.9.3', '@types/bun': '^1.3.6', '@types/node': '^24.10.1' };
	writeFileSync(join(source, 'package.json'), JSON.stringify({ name: 'sdk-server-build', private: true, workspaces: ['packages/*', 'tooling/*'], devDependencies }));
	run('bun', ['install', '--ignore-scripts'], source, env);
	// @repo/shared's package exports point at its compiled dist/.
	run('bun', ['x', 'tsc', '--project', 'tsconfig.build.json'], join(source, 'packages/shared'), env);
	const server = join(outDir, 'server');
	run('bun', ['build', 'src/legacy.ts', '--target=bun', '--minify', `--outfile=${join(server, 'index.js')}`], join(source, 'packages/sandbox-container'), env);
	const { version } = JSON.parse(readFileSync(join(checkout, 'packages/sandbox/package.json'), 'utf8')) as { version: string };
	writeFileSync(join(server, 'ready.mjs'), readyShim(version));
	writeFileSync(join(server, 'version'), `${version}\n`);
	rmSync(join(outDir, 'bun-cache'), { recursive: true, force: true });
	console.log(`\nBuilt in ${outDir}. Run the suite against it:\n  SANDBOX_CONFORMANCE=sdk-server SANDBOX_SDK_SERVER_DIR=${outDir} npx vitest run tests/conformance`);
}

if (import.meta.main) {
	const [checkout, outDir = DEFAULT_SDK_SERVER_DIR] = process.argv.slice(2);
	if (!checkout) {
		console.error('usage: npm run conformance:sdk-server -- <checkout of cloudflare/sandbox-sdk> [output directory]');
		process.exit(2);
	}
	build(resolve(checkout), resolve(outDir));
}
