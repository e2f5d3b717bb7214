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
 * Its coordinator is the app's; the templates it boots are the app's and the suite's variants (the
 * catalog module it is bundled with, and the folders the engine mounts: harness.ts).
 */
import { API_CALL_PATH, LOGS_PATH, type CoordinatorNamespace, type Namespace, type PoolApi, type SavedEditsApi, type StartGateApi } from '../../src/lib/server/durable-objects/contract.ts';
import { answerPreview, type PreviewEnv } from '../../src/lib/server/preview-route.ts';
import { isPreviewNamespace } from '../../src/lib/server/sandbox/rules.ts';

export { Sandbox } from '../../engine/workerd/sandbox.ts';
export { SandboxCoordinator } from '../../src/lib/server/durable-objects/coordinator.ts';
export { StartGate } from '../../src/lib/server/durable-objects/start-gate.ts';
export { Capacity } from '../../src/lib/server/durable-objects/capacity.ts';
export { SavedEdits } from '../../src/lib/server/durable-objects/saved-edits.ts';
export { SandboxPool } from '../../src/lib/server/durable-objects/pool.ts';

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
