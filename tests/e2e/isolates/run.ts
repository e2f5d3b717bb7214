/**
 * The e2e `isolates` target: the app as two isolates that share no memory — two `wrangler dev`
 * processes of the built worker (derived from wrangler.jsonc) — over one companion that hosts the Durable Objects
 * with the local engine's containers, behind a proxy that sends every request and every
 * WebSocket to the next isolate in turn. What one isolate started, the other must report,
 * stop and wake; each boot is logged by the coordinator, and app-server.ts counts them.
 *
 * The proxy stands in for Cloudflare's edge: it sets CF-Connecting-IP on every request, the
 * client address the start gate counts. Each request counts as a client of its own, unless the
 * test names one in `x-test-client-address` (the rate-limit tests do).
 *
 *   node tests/e2e/isolates/run.ts <port>
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEngine } from '../../../engine/launch.ts';
import { runWranglerDev, type WranglerDev } from '../../../dev/wrangler-dev.ts';
import { COMPANION, DEPLOYED_CONFIG, type WorkerDerivation } from '../../../dev/worker-config.ts';
import { pipeUpgrade } from '../../../dev/vite/preview-proxy.ts';
import { ISOLATE_SETTINGS } from './settings.ts';

/** The app's worker (src/worker.ts), whose Durable Objects are the companion's, as two isolates of the deployed worker reach the same objects. */
const isolate = (name: string): WorkerDerivation => ({ main: 'src/worker.ts', name, objectsOf: COMPANION.name });
const port = Number(process.argv[2]);

const scratch = mkdtempSync(join(tmpdir(), 'sandbox-isolates-'));
const env = { ...process.env, WRANGLER_REGISTRY_PATH: join(scratch, 'registry') };
const engine = await startEngine();
const workers: WranglerDev[] = [];

async function wranglerDev(derive: WorkerDerivation, vars: Record<string, string>): Promise<number> {
	// In the dev registry, all three: the isolates bind the companion's Durable Objects (`script_name`).
	const worker = runWranglerDev({ config: DEPLOYED_CONFIG, derive, ip: '127.0.0.1', port: 0, persist: join(scratch, derive.name), enableContainers: false, devRegistry: true, vars, env });
	workers.push(worker);
	return Number((await worker.ready).port);
}

async function stop(code: number): Promise<never> {
	await Promise.all(workers.map((worker) => worker.stop()));
	await engine.stop();
	rmSync(scratch, { recursive: true, force: true });
	process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(0));

let isolates: number[];
try {
	// One key for the isolates and the companion: the start gate and the pools sign the sandbox IDs
	// that the isolates' routes check.
	const sessionSecret = randomBytes(32).toString('base64url');
	await wranglerDev(COMPANION, {
		SESSION_SECRET: sessionSecret,
		SANDBOX_ENGINE_URL: engine.url,
		SANDBOX_ENGINE_SECRET: engine.secret,
		SANDBOX_MAX_INSTANCES: String(engine.maxContainers),
		SANDBOX_TTL_SECONDS: String(ISOLATE_SETTINGS.ttlSeconds),
		SANDBOX_POOL_SIZE: process.env.SANDBOX_POOL_SIZE ?? '0'
	});
	const appVars = {
		SESSION_SECRET: sessionSecret,
		SANDBOX_VISITOR_STARTS_PER_MINUTE: String(ISOLATE_SETTINGS.visitorStartsPerMinute),
		SANDBOX_ADDRESS_STARTS_PER_MINUTE: String(ISOLATE_SETTINGS.addressStartsPerMinute),
		SANDBOX_ADDRESS_LIVE_SANDBOXES: String(ISOLATE_SETTINGS.addressLiveSandboxes),
		// The host names the specs use besides localhost (app-server.ts sets them).
		APP_HOSTS: process.env.APP_HOSTS ?? ''
	};
	isolates = [await wranglerDev(isolate('isolate-a'), appVars), await wranglerDev(isolate('isolate-b'), appVars)];
} catch (error) {
	console.error(`[isolates] ${(error as Error).message}`);
	await stop(1);
}

let turn = 0;
const served = [0, 0];
/** The next isolate, in turn. */
function next(): number {
	const index = turn++ % isolates.length;
	served[index]++;
	return isolates[index];
}

let clients = 0;
function clientAddress(req: IncomingMessage): string {
	const named = req.headers['x-test-client-address'];
	if (typeof named === 'string') return named;
	clients++;
	return `198.18.${(clients >> 8) & 255}.${clients & 255}`; // benchmarking range: a header only, never dialled
}

function forwardedHeaders(req: IncomingMessage) {
	const { 'x-test-client-address': _named, ...headers } = req.headers;
	return { ...headers, 'cf-connecting-ip': clientAddress(req) };
}

const proxy = createServer((req, res) => {
	const upstream = httpRequest({ host: '127.0.0.1', port: next(), method: req.method, path: req.url, headers: forwardedHeaders(req), agent: false }, (response) => {
		res.writeHead(response.statusCode ?? 502, response.statusMessage, response.rawHeaders);
		response.pipe(res);
	});
	upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end('isolate unreachable')));
	req.pipe(upstream);
});
proxy.on('upgrade', (req, client, head) => {
	const headers = Object.entries(forwardedHeaders(req)).flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${v}`));
	pipeUpgrade({ host: '127.0.0.1', port: next() }, req, headers, client, head);
});
proxy.listen(port, 'localhost', () => console.log(`[isolates] round robin on ${port} over isolates ${isolates.join(', ')}`));
process.on('exit', () => console.log(`[isolates] requests and sockets per isolate: ${served.join(', ')}`));
