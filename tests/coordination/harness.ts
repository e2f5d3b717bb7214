/**
 * Runs the coordination worker (worker.ts) in workerd as `npm run preview` runs the app (with
 * dev/wrangler-dev.ts), its sandboxes' containers from a local engine started here (as
 * tests/conformance/harness.ts does), and looks at what users would notice: a coordinator's
 * answers, its status socket, a preview URL served through the worker, and the containers running
 * on this host.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startEngine, type EngineHandle } from '../../engine/launch.ts';
import { runWranglerDev } from '../../dev/wrangler-dev.ts';
import { DEPLOYED_CONFIG, type WorkerDerivation } from '../../dev/worker-config.ts';
import { catalogModule, readTemplates, TEMPLATES_DIR } from '../../sandbox/catalog.ts';
import { emptyResult, withPart, type ApiCall, type ConsolePart, type ConsoleResult } from '../../src/lib/api-console.ts';
import type { LogPart } from '../../src/lib/app-logs.ts';
import { readJsonLines } from '../../src/lib/json-lines.ts';
import type { SandboxSnapshot, ServerMessage } from '../../src/lib/sandbox-state.ts';
import type { GatedStart, GatedStartReply, StartReply, StatusReply, StatusRequest } from '../../src/lib/server/durable-objects/contract.ts';
import { liveProcesses, scratchDir, type HostProcess } from '../helpers/host.ts';
import { oncePerRun } from '../helpers/once-per-run.ts';

/** The idle TTL the worker runs with: short, so that the idle stop is seen within a test. */
export const TTL_MS = 8_000;

/**
 * The templates the suite's sandboxes boot: the project's (sandbox/templates/), and the variants
 * in variants/, each a template folder (`slow`, whose server listens after 40 s; `crash`, which
 * exits at once; …: see their template.json). Gathered once per run into one folder, which the
 * engine mounts at /templates, with the catalog module the worker is bundled with.
 */
const TEMPLATES = {
	dir: join(process.env.SANDBOX_TEST_DIR!, 'coordination-templates'),
	variants: fileURLToPath(new URL('variants/', import.meta.url))
};

function gatherTemplates() {
	cpSync(TEMPLATES_DIR, TEMPLATES.dir, { recursive: true, verbatimSymlinks: true });
	cpSync(TEMPLATES.variants, TEMPLATES.dir, { recursive: true });
	writeFileSync(join(TEMPLATES.dir, 'catalog.ts'), catalogModule(readTemplates(TEMPLATES.dir)));
}

/**
 * The suite's worker (worker.ts): the deployed Durable Objects, with the local engine's containers
 * and a short idle TTL, and the catalog of TEMPLATES (above).
 */
const COORDINATION_WORKER: WorkerDerivation = {
	main: 'tests/coordination/worker.ts',
	name: 'sandbox-coordination',
	// The app's catalog module (src/lib/server/templates/catalog.ts imports it so), this run's instead.
	alias: { './catalog.generated': join(TEMPLATES.dir, 'catalog.ts') },
	// No warm pool, unless a test asks for one: its sandboxes would count among each test's.
	vars: { SANDBOX_TTL_SECONDS: String(TTL_MS / 1000), SANDBOX_POOL_SIZE: '0' }
};

export interface PreviewResponse {
	status: number;
	body: string;
}

export interface CoordinationWorker {
	/** `http://localhost:<port>`: the origin sandboxes are started with (preview URLs hang off it). */
	origin: string;
	port: number;
	engine: EngineHandle;
	stateDir: string;
	/** Where wrangler keeps this run's Durable Object and R2 storage. */
	persistDir: string;
	/** Calls a coordinator's RPC method; throws what it threw. */
	coordinator<T = unknown>(id: string, method: string, args?: unknown[]): Promise<T>;
	/** Calls a start gate's RPC method. */
	gate<T = unknown>(name: string, method: string, args?: unknown[]): Promise<T>;
	/** Calls a template's warm pool's RPC method. */
	pool<T = unknown>(template: string, method: string, args?: unknown[]): Promise<T>;
	/** Calls a visitor's saved edits' RPC method. */
	savedEdits<T = unknown>(visitor: string, method: string, args?: unknown[]): Promise<T>;
	/** Stores an object in the backups' R2 bucket, as the SDK's `createBackup` does. */
	putObject(key: string, bytes: Uint8Array<ArrayBuffer>): Promise<void>;
	/** start({ id, template, origin, visitor }) with this worker's origin; each sandbox has a visitor of its own unless one is named. */
	start(id: string, options?: { template?: string; visitor?: string }): Promise<StartReply>;
	/** The visitor's start through their gate (StartGateApi.start), with this worker's origin; the gate names the sandbox. */
	gateStart(visitor: string, start: { limits: GatedStart['limits']; template?: string; network?: string }): Promise<GatedStartReply>;
	/** The state, asked as the visitor who started the sandbox here (or as `visitor`). */
	status(id: string, request?: Partial<StatusRequest>): Promise<StatusReply>;
	/** Waits (with long-polling status reads) until the sandbox has settled; answers its state. */
	settled(id: string, timeoutMs?: number): Promise<SandboxSnapshot>;
	/**
	 * A request for a preview URL, sent to the worker with the preview host in its Host header, as
	 * the sandbox's owner: with the preview cookie, got as the app gets it for its visitor (a ticket
	 * from the coordinator, redeemed at the preview host).
	 */
	preview(url: string, headers?: Record<string, string>): Promise<PreviewResponse>;
	/**
	 * The app's logs as the page follows them: the parts that arrive within `forMs` (then the stream
	 * is dropped, as a closed tab drops it), or the refusal's status.
	 */
	followLogs(id: string, forMs: number): Promise<{ status: number; parts: LogPart[] }>;
	/** The API console's call, as the app's routes make it (the coordinator's fetch): its refusal, or the exchange. */
	apiCall(id: string, call: ApiCall): Promise<{ status: number; message?: string; result?: ConsoleResult }>;
	/** Opens the sandbox's status socket. */
	socket(id: string): Promise<StatusSocket>;
	/** The containers of a sandbox running now: one entry (its directory) per container. */
	containers(id: string): string[];
	/** The sandbox IDs with a container running now, one entry per container. */
	runningSandboxes(): string[];
	/** Every live host process of the sandbox's containers (launchers, network helpers, what runs inside). */
	containerProcesses(id: string): HostProcess[];
	/** What wrangler and workerd printed (the coordinator's console.log included). */
	workerLog(): string;
	engineLog(): string;
	output(): string;
	stop(): Promise<void>;
}

export interface StatusSocket {
	messages: ServerMessage[];
	/** What happened to the socket, with milliseconds since it was opened (for failure messages). */
	events: string[];
	/** Resolves with the first message (received so far or later) that `match` accepts. */
	next(match: (message: ServerMessage) => boolean, timeoutMs?: number): Promise<ServerMessage>;
	/** Resolves with the close code once the socket has closed. */
	closed: Promise<{ code: number; reason: string }>;
	ws: WebSocket;
}

export interface CoordinationOptions {
	/** The engine's configuration beyond its state directory (SANDBOX_ENGINE_MAX, …). */
	engineEnv?: Record<string, string>;
	/** The coordinators' idle TTL, when not TTL_MS. */
	ttlSeconds?: number;
	/** More of the worker's settings (SANDBOX_MAX_INSTANCES, …). */
	vars?: Record<string, string>;
	/** The Durable Objects' storage of an earlier run (its `persistDir`), as after a deploy; a fresh one otherwise. */
	persistDir?: string;
}

export async function startCoordinationWorker({ engineEnv = {}, ttlSeconds, vars: extraVars = {}, persistDir = scratchDir('coordination-persist-') }: CoordinationOptions = {}): Promise<CoordinationWorker> {
	await oncePerRun('coordination-templates', gatherTemplates);
	const stateDir = scratchDir('coordination-');
	const engine = await startEngine({
		env: { SANDBOX_ENGINE_STATE_DIR: stateDir, SANDBOX_ENGINE_MAX: '8', SANDBOX_ENGINE_TEMPLATES_DIR: TEMPLATES.dir, ...engineEnv },
		output: 'capture'
	});
	const vars: Record<string, string> = {
		SANDBOX_ENGINE_URL: engine.url,
		SANDBOX_ENGINE_SECRET: engine.secret,
		SANDBOX_LOG_LEVEL: 'info',
		// Signs preview cookies (the preview route's).
		SESSION_SECRET: randomBytes(32).toString('base64url'),
		...extraVars
	};
	if (ttlSeconds !== undefined) vars.SANDBOX_TTL_SECONDS = String(ttlSeconds);
	const sockets = new Set<WebSocket>();
	/** Preview host → its preview cookie (`name=value`). */
	const previewCookies = new Map<string, string>();

	// The worker as it is at the start, never reloaded (the launcher does not watch its files): a
	// reload would restart every Durable Object, ending boots and dropping sockets, and others edit
	// src/ while this suite runs.
	const wrangler = runWranglerDev({
		config: DEPLOYED_CONFIG,
		derive: COORDINATION_WORKER,
		ip: '127.0.0.1',
		port: 0,
		// Durable Object storage of this run only, unless it continues an earlier one.
		persist: persistDir,
		enableContainers: false,
		devRegistry: false,
		vars,
		env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
		stdio: 'pipe'
	});
	let log = '';
	wrangler.child.stdout!.on('data', (chunk) => (log += chunk));
	wrangler.child.stderr!.on('data', (chunk) => (log += chunk));

	const stop = async () => {
		for (const ws of sockets) ws.terminate();
		await wrangler.stop();
		await engine.stop();
		// For a look at a failed run: COORDINATION_LOG=/some/file collects what the worker and engine printed.
		if (process.env.COORDINATION_LOG) appendFileSync(process.env.COORDINATION_LOG, `--- worker ---\n${log}\n--- engine ---\n${engine.output()}`);
	};

	let port: number;
	try {
		port = Number((await wrangler.ready).port);
	} catch (error) {
		await stop();
		throw new Error(`${(error as Error).message}:\n${log}\n${engine.output()}`);
	}
	const base = `http://127.0.0.1:${port}`;

	const call = async <T>(path: string, body: object): Promise<T> => {
		const response = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) });
		if (!response.ok) throw new Error(`the test worker answered ${response.status}: ${await response.text()}`);
		const result = (await response.json()) as { value?: T; error?: { name: string; message: string } };
		if (result.error) throw new Error(`${path} ${JSON.stringify(body)}: ${result.error.name}: ${result.error.message}`);
		return result.value as T;
	};

	/** Container directory → the sandbox ID its `id` file names (remembered: the file goes with the container). */
	const containerIds = new Map<string, string>();
	const launchers = () => {
		const all = liveProcesses();
		for (const p of all) {
			const dir = /(\S+\/sandboxes\/\d+)\//.exec(p.cmdline)?.[1];
			if (!dir || !dir.startsWith(stateDir) || containerIds.has(dir)) continue;
			try {
				containerIds.set(dir, readFileSync(join(dir, 'id'), 'utf8').trim());
			} catch {
				// Not written yet, or gone already.
			}
		}
		return all;
	};
	const dirsOf = (id: string) => [...containerIds].filter(([, name]) => name === id).map(([dir]) => dir);

	/** Sandbox ID → the visitor who started it here. */
	const owners = new Map<string, string>();
	const worker: CoordinationWorker = {
		origin: `http://localhost:${port}`,
		port,
		engine,
		stateDir,
		persistDir,
		coordinator: (id, method, callArgs = []) => call('/coordinator', { id, method, args: callArgs }),
		gate: (name, method, callArgs = []) => call('/gate', { name, method, args: callArgs }),
		pool: (template, method, callArgs = []) => call('/pool', { name: template, method, args: callArgs }),
		savedEdits: (visitor, method, callArgs = []) => call('/saved-edits', { name: `visitor:${visitor}`, method, args: callArgs }),
		async putObject(key, bytes) {
			const response = await fetch(`http://localhost:${port}/r2/${encodeURIComponent(key)}`, { method: 'PUT', body: new Blob([bytes]) });
			if (!response.ok) throw new Error(`storing ${key}: ${response.status} ${await response.text()}`);
		},
		start: (id, { template = 'express', visitor = `visitor-of-${id}` } = {}) => {
			owners.set(id, visitor);
			return worker.coordinator(id, 'start', [{ id, template, origin: worker.origin, visitor }]);
		},
		async gateStart(visitor, { limits, template = 'express', network = `net-${visitor}` }) {
			const request: GatedStart = { template, origin: worker.origin, visitor, network, limits, clean: false };
			const reply = await worker.gate<GatedStartReply>(`visitor:${visitor}`, 'start', [request]);
			if (reply.ok) owners.set(reply.id, visitor);
			return reply;
		},
		status: (id, request = {}) => worker.coordinator(id, 'status', [{ visitor: owners.get(id) ?? `visitor-of-${id}`, ...request }]),
		async settled(id, timeoutMs = 60_000) {
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const reply = await worker.status(id);
				if (!reply) throw new Error(`sandbox ${id} has no state`);
				if (reply.state.status !== 'initializing') return reply.state;
				const left = deadline - Date.now();
				if (left <= 0) throw new Error(`sandbox ${id} did not settle within ${timeoutMs} ms: ${JSON.stringify(reply.state)}`);
				await worker.status(id, { after: reply.version, waitMs: Math.min(left, 10_000) });
			}
		},
		async followLogs(id, forMs) {
			const controller = new AbortController();
			const response = await fetch(`${base}/logs/${encodeURIComponent(id)}`, { signal: controller.signal });
			const parts: LogPart[] = [];
			if (!response.ok) return { status: response.status, parts };
			const timer = setTimeout(() => controller.abort(), forMs);
			await readJsonLines<LogPart>(response.body!, (part) => parts.push(part)).catch(() => {});
			clearTimeout(timer);
			return { status: response.status, parts };
		},
		async apiCall(id, apiCall) {
			const response = await fetch(`${base}/api-call/${encodeURIComponent(id)}`, { method: 'POST', body: JSON.stringify(apiCall) });
			if (!response.ok) return { status: response.status, message: ((await response.json()) as { message: string }).message };
			let result = emptyResult(apiCall);
			await readJsonLines<ConsolePart>(response.body!, (part) => (result = withPart(result, part)));
			return { status: response.status, result };
		},
		async preview(url, headers = {}) {
			const host = new URL(url).host;
			let cookie = previewCookies.get(host);
			if (!cookie) {
				const sandboxId = /^\d+-(.+)-[a-z0-9_]+$/.exec(host.split('.')[0])![1];
				const issued = await worker.coordinator<{ ok: boolean; ticket?: string; message?: string }>(sandboxId, 'issuePreviewTicket');
				if (!issued.ok) return { status: 409, body: issued.message ?? '' };
				const access = await previewRequest(port, new URL(`/__preview_access?ticket=${issued.ticket}`, url).href);
				cookie = access.cookie ?? '';
				previewCookies.set(host, cookie);
			}
			return previewRequest(port, url, cookie, headers);
		},
		socket: (id) => openSocket(`ws://127.0.0.1:${port}/ws/${encodeURIComponent(id)}`, sockets),
		containers(id) {
			const all = launchers();
			const dirs = dirsOf(id);
			return dirs.filter((dir) => all.some((p) => p.cmdline.startsWith('bwrap ') && p.cmdline.includes(`${dir}/`)));
		},
		runningSandboxes() {
			const all = launchers();
			return [...containerIds]
				.filter(([dir]) => all.some((p) => p.cmdline.startsWith('bwrap ') && p.cmdline.includes(`${dir}/`)))
				.map(([, id]) => id);
		},
		containerProcesses(id) {
			const all = launchers();
			const dirs = dirsOf(id);
			const hostNamespace = all.find((p) => p.pid === process.pid)?.pidNamespace;
			const outer = all.filter((p) => dirs.some((dir) => p.cmdline.includes(`${dir}/`)));
			const namespaces = new Set(outer.map((p) => p.pidNamespace).filter((ns) => ns !== hostNamespace));
			return all.filter((p) => outer.includes(p) || namespaces.has(p.pidNamespace));
		},
		workerLog: () => log,
		engineLog: () => engine.output(),
		output: () => `--- worker ---\n${log}\n--- engine ---\n${engine.output()}`,
		stop
	};
	return worker;
}

function previewRequest(port: number, previewUrl: string, cookie = '', extraHeaders: Record<string, string> = {}): Promise<PreviewResponse & { cookie?: string }> {
	const url = new URL(previewUrl);
	return new Promise((resolve, reject) => {
		const headers = { host: url.host, accept: 'application/json', ...(cookie && { cookie }), ...extraHeaders };
		const req = httpRequest(
			{ host: '127.0.0.1', port, path: `${url.pathname}${url.search}`, headers },
			(res) => {
				let body = '';
				res.setEncoding('utf8');
				res.on('data', (chunk) => (body += chunk));
				res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cookie: res.headers['set-cookie']?.[0]?.split(';')[0] }));
				res.on('error', reject);
			}
		);
		req.on('error', reject);
		req.end();
	});
}

function openSocket(url: string, sockets: Set<WebSocket>): Promise<StatusSocket> {
	// workerd leaves the TCP connection of a socket the coordinator closed from outside that
	// socket's own event (a stop, the idle TTL) open after the closing handshake, until the client
	// drops it: ws waits 30 s by default for that, Chromium 2 s — as here.
	// (ws has the option; its type definitions do not.)
	const ws = new WebSocket(url, { closeTimeout: 2_000 } as WebSocket.ClientOptions);
	sockets.add(ws);
	const messages: ServerMessage[] = [];
	const events: string[] = [];
	const openedAt = Date.now();
	const event = (text: string) => events.push(`${Date.now() - openedAt} ms: ${text}`);
	const listeners = new Set<() => void>();
	ws.on('message', (data) => {
		event(`message ${String(data).slice(0, 60)}`);
		messages.push(JSON.parse(String(data)) as ServerMessage);
		for (const listener of [...listeners]) listener();
	});
	const closed = new Promise<{ code: number; reason: string }>((resolve) => {
		ws.once('close', (code, reason) => {
			event(`close ${code} ${String(reason)}`);
			sockets.delete(ws);
			resolve({ code, reason: String(reason) });
			for (const listener of [...listeners]) listener();
		});
	});
	const socket: StatusSocket = {
		messages,
		events,
		closed,
		ws,
		next(match, timeoutMs = 60_000) {
			return new Promise((resolve, reject) => {
				const check = () => {
					const found = messages.find(match);
					if (found) {
						done();
						resolve(found);
					} else if (ws.readyState === WebSocket.CLOSED) {
						done();
						reject(new Error(`the socket closed without such a message:\n${events.join('\n')}`));
					}
				};
				const timer = setTimeout(() => {
					done();
					reject(new Error(`no such message within ${timeoutMs} ms:\n${events.join('\n')}`));
				}, timeoutMs);
				const done = () => {
					clearTimeout(timer);
					listeners.delete(check);
				};
				listeners.add(check);
				check();
			});
		}
	};
	return new Promise((resolve, reject) => {
		ws.once('open', () => resolve(socket));
		ws.once('unexpected-response', (_req, res) => reject(new Error(`the status socket was refused: ${res.statusCode}`)));
		ws.once('error', reject);
	});
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
