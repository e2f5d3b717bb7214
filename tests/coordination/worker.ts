/**
 * The coordination suite's worker: the app's Durable Objects — a sandbox's coordinator, the start
 * gates and a visitor's saved edits — over the SDK's `Sandbox` with the local engine's containers, and a small door for
 * the tests to call them as the app's routes do:
 *
 *   POST /coordinator { id, method, args? }   calls the coordinator of sandbox `id` (idFromName(id))
 *   POST /gate        { name, method, args? } calls the start gate `name`
 *   POST /saved-edits { name, method, args? } calls the saved edits `name` (`visitor:{id}`)
 *   POST /pool        { name, method, args? } calls the warm pool of template `name`
 *     all answer { value } or { error: { name, message } }
 *   GET  /ws/{id} (WebSocket upgrade)         the coordinator's status socket, as the app's route hands it over
 *   POST /api-call/{id} (an ApiCall)          the API console's call, as the app's route makes it
 *   GET  /logs/{id}                           the app's logs as they come, as the app's route follows them
 *   PUT  /r2/{key}                            stores the body in the backups' R2 bucket under `key`
 *   any preview host ({port}-{id}-{token}.…)  answered by the app's own preview route (answerPreview)
 *
 * The coordinator is the app's, subclassed only to boot variants of the templates, by the sandbox
 * ID's first word: `slow-`, an Express server that listens only after 40 s; `loopback-`, one that
 * listens on 127.0.0.1 only; `crash-`, one that writes a line to each stream and exits with 3;
 * `leaky-`, the Hono server after printing its API token; `fragile-`, a server that breaks on
 * request (`/boom` answers 500 every other time, `/exit` exits with 4, `/close` stops listening but
 * runs on);
 * `once-`, the Express server the first time, and the second time (a restart) one that writes a
 * line, waits 3 s and exits with 3; `deaf-`, a process that never listens, and `unwell-`, a server
 * that answers 503, both given 2 s to be ready.
 */
import { SandboxCoordinator } from '../../src/lib/server/durable-objects/coordinator.ts';
import { API_CALL_PATH, LOGS_PATH, type CoordinatorNamespace, type Namespace, type PoolApi, type SavedEditsApi, type StartGateApi } from '../../src/lib/server/durable-objects/contract.ts';
import { answerPreview, type PreviewEnv } from '../../src/lib/server/preview-route.ts';
import { isPreviewNamespace } from '../../src/lib/server/sandbox/rules.ts';
import { templateOf, type Template } from '../../src/lib/server/templates/catalog.ts';

export { Sandbox } from '../../engine/workerd/sandbox.ts';
export { StartGate } from '../../src/lib/server/durable-objects/start-gate.ts';
export { Capacity } from '../../src/lib/server/durable-objects/capacity.ts';
export { SavedEdits } from '../../src/lib/server/durable-objects/saved-edits.ts';
export { SandboxPool } from '../../src/lib/server/durable-objects/pool.ts';

/** How long the slow template's server waits before it listens (not exported: a worker's exports are its handlers). */
const SLOW_LISTEN_SECONDS = 40;

const express = templateOf('express')!;

/** The Express template, but its server only listens after SLOW_LISTEN_SECONDS (and the boot waits up to 90 s for it). */
const slowExpress: Template = {
	...express,
	start: { ...express.start, command: `sh -c 'sleep ${SLOW_LISTEN_SECONDS}; exec ${express.start.command}'` },
	ready: { ...express.ready, timeoutSeconds: 90 }
};

/** An app that answers inside the sandbox, but listens on its loopback only (the seed's classic mistake). */
const loopbackExpress: Template = {
	...express,
	start: { ...express.start, command: `node -e "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, '127.0.0.1')"` }
};

/** An app that fails at once, saying why. */
const crashingExpress: Template = {
	...express,
	start: { ...express.start, command: `node -e "console.log('reading the config'); console.error('boom: no config'); process.exit(3)"` }
};

/** A server that answers `fine`, and breaks as asked (see the file's comment). */
const fragileExpress: Template = {
	...express,
	start: {
		...express.start,
		command:
			`node -e "let booms = 0; const server = require('http').createServer((q, s) => {` +
			`if (q.url === '/boom' && booms++ % 2 === 0) { console.error('boom: the database is down'); s.statusCode = 500; return s.end('broken'); }` +
			`if (q.url === '/exit') { console.log('exiting on purpose'); return s.end('bye', () => process.exit(4)); }` +
			`if (q.url === '/close') { setInterval(() => {}, 1000); return s.end('closing', () => { server.close(); server.closeAllConnections(); }); }` +
			`s.end('fine'); }).listen(process.env.PORT, '0.0.0.0')"`
	}
};

/** The Express server, which fails when it is started a second time in its container. */
const onceExpress: Template = {
	...express,
	start: { ...express.start, command: `sh -c 'if test -e /tmp/started; then echo "boom on restart" >&2; sleep 3; exit 3; fi; touch /tmp/started; exec ${express.start.command}'` }
};

/** An app given 2 s to be ready, which runs `command`. */
const quickToFail = (command: string): Template => ({ ...express, start: { ...express.start, command }, ready: { ...express.ready, timeoutSeconds: 2 } });

const deafApp = quickToFail(`node -e "setInterval(() => {}, 1000)"`);
const unwellApp = quickToFail(`node -e "require('http').createServer((q, s) => { s.statusCode = 503; s.end('warming up'); }).listen(process.env.PORT, '0.0.0.0')"`);

const hono = templateOf('hono')!;

/** The Hono app, which first prints the token it was given (the logs must not show it). */
const leakyHono: Template = { ...hono, start: { ...hono.start, command: `sh -c 'echo "my token is $API_TOKEN"; exec ${hono.start.command}'` } };

const VARIANTS: Record<string, Template> = { slow: slowExpress, loopback: loopbackExpress, crash: crashingExpress, leaky: leakyHono, fragile: fragileExpress, once: onceExpress, deaf: deafApp, unwell: unwellApp };

export class TestCoordinator extends SandboxCoordinator {
	protected override template(id: string): Template {
		// The object's name is the sandbox ID (idFromName).
		const variant = VARIANTS[(this.ctx.id.name ?? '').split('-')[0]];
		return variant?.id === id ? variant : super.template(id);
	}
}

interface Env extends PreviewEnv {
	Coordinator: CoordinatorNamespace;
	StartGate: Namespace<StartGateApi>;
	SavedEdits: Namespace<SavedEditsApi>;
	Pool: Namespace<PoolApi>;
	BACKUP_BUCKET: { put(key: string, value: ArrayBuffer): Promise<unknown> };
}

type Callable = Record<string, (...args: unknown[]) => Promise<unknown>>;

export default {
	async fetch(request: Request, env: Env, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response> {
		const url = new URL(request.url);
		if (isPreviewNamespace(url.host)) return answerPreview(request, env, ctx);

		const apiCall = /^\/api-call\/([^/]+)$/.exec(url.pathname);
		if (apiCall && request.method === 'POST') {
			const id = decodeURIComponent(apiCall[1]);
			const call = new Request(`https://coordinator${API_CALL_PATH}`, { method: 'POST', body: await request.text() });
			return env.Coordinator.get(env.Coordinator.idFromName(id)).fetch(call);
		}

		const logs = /^\/logs\/([^/]+)$/.exec(url.pathname);
		if (logs) {
			const id = decodeURIComponent(logs[1]);
			return env.Coordinator.get(env.Coordinator.idFromName(id)).fetch(new Request(`https://coordinator${LOGS_PATH}`));
		}

		const object = /^\/r2\/(.+)$/.exec(url.pathname);
		if (object && request.method === 'PUT') {
			await env.BACKUP_BUCKET.put(decodeURIComponent(object[1]), await request.arrayBuffer());
			return new Response(null, { status: 204 });
		}

		const socket = /^\/ws\/([^/]+)$/.exec(url.pathname);
		if (socket) {
			const id = decodeURIComponent(socket[1]);
			return env.Coordinator.get(env.Coordinator.idFromName(id)).fetch(request);
		}

		const namespaces: Record<string, Namespace<unknown>> = { '/coordinator': env.Coordinator, '/gate': env.StartGate, '/saved-edits': env.SavedEdits, '/pool': env.Pool };
		const namespace = namespaces[url.pathname];
		if (request.method !== 'POST' || !namespace) return new Response('Not found', { status: 404 });
		const call = (await request.json()) as { id?: string; name?: string; method: string; args?: unknown[] };
		try {
			const stub = namespace.get(namespace.idFromName(call.id ?? call.name!));
			const value = await (stub as unknown as Callable)[call.method](...(call.args ?? []));
			return Response.json({ value: value === undefined ? null : value });
		} catch (error) {
			const { name, message } = error as Error;
			return Response.json({ error: { name, message } });
		}
	}
};
