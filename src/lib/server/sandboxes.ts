/**
 * The routes' one way to a sandbox: a thin client of its coordinator, the Durable Object that
 * holds its state (durable-objects/coordinator.ts). Nothing about a sandbox is kept in this isolate.
 * In workerd the coordinators are bindings of this worker; in `vite dev` they live in a companion
 * `wrangler dev`, and `platform.env` reaches them through wrangler's platform proxy.
 */
import { env } from '$env/dynamic/private';
import { error } from '@sveltejs/kit';
import * as v from 'valibot';
import { clientNetwork } from './client-network';
import { templates } from './templates/catalog';
import type { ApiCall } from '$lib/api-console';
import {
	API_CALL_PATH,
	LOGS_PATH,
	TERMINAL_PATH,
	savedEditsName,
	visitorGateName,
	type CoordinatorApi,
	type GatedStart,
	type GatedStartReply,
	type Namespace,
	type PoolApi,
	type PoolStatus,
	type SavedEdit,
	type SavedEditsApi,
	type StartGateApi,
	type StatusReply,
	type StatusRequest
} from './durable-objects/contract';

/** The sandbox's coordinator, from the request's platform. */
export function coordinatorOf(platform: App.Platform | undefined, id: string): CoordinatorApi {
	return objectOf<CoordinatorApi>(platform, 'Coordinator', id);
}

function objectOf<Api>(platform: App.Platform | undefined, binding: 'Coordinator' | 'StartGate' | 'SavedEdits' | 'Pool', name: string): Api {
	const namespace = platform?.env[binding] as Namespace<Api> | undefined;
	if (!namespace) error(503, `No ${binding} Durable Object is bound: run the app with \`npm run dev\`, \`npm run preview\` or \`wrangler deploy\`.`);
	return namespace.get(namespace.idFromName(name));
}

/** The visitor's saved edits (saved-edits.ts): what they edited in sandboxes that have stopped since. */
export async function savedEditsOf(platform: App.Platform | undefined, visitor: string): Promise<SavedEdit[]> {
	return structuredCopy(await objectOf<SavedEditsApi>(platform, 'SavedEdits', savedEditsName(visitor)).list());
}

/**
 * Asks every template's warm pool (pool.ts) to start what it lacks, and answers what each holds
 * (templates in the catalog's order). The start page asks as it is viewed, so that a deployment
 * warms up as soon as someone looks at it. (A pool knows its own size; with none, it does nothing.)
 */
export async function fillPools(platform: App.Platform | undefined): Promise<(PoolStatus & { template: string })[]> {
	return Promise.all(
		templates.map(async ({ id }) => {
			const status = await objectOf<PoolApi>(platform, 'Pool', id)
				.fill(id)
				.catch((error: Error) => (console.error(`[pools] filling the pool of ${id}: ${error.message}`), { size: 0, ready: 0, starting: 0 }));
			return { template: id, ...structuredCopy(status) };
		})
	);
}

/**
 * The start limits (see the README's Configuration):
 *   SANDBOX_VISITOR_STARTS_PER_MINUTE (default 10), SANDBOX_ADDRESS_STARTS_PER_MINUTE (default 30):
 *     starts per minute by one visitor, and from one client address;
 *   SANDBOX_ADDRESS_LIVE_SANDBOXES (default 3): sandboxes running at once from one client address.
 */
const Limit = (fallback: string) =>
	v.pipe(v.optional(v.string(), fallback), v.transform(Number), v.integer('a whole number'), v.minValue(1), v.maxValue(10_000));

/**
 * Where the client address comes from:
 *   CLIENT_ADDRESS_SOURCE  `cf-connecting-ip` (the default): what SvelteKit's getClientAddress
 *     gives — on Cloudflare the `CF-Connecting-IP` header, which Cloudflare sets itself, and under
 *     `vite dev` the socket's address. `loopback`: `wrangler dev` on this machine (npm run preview
 *     sets it), where that header is whatever the client sent and every client is this machine.
 */
const ClientAddressSource = v.optional(v.picklist(['cf-connecting-ip', 'loopback'], 'CLIENT_ADDRESS_SOURCE is cf-connecting-ip or loopback'), 'cf-connecting-ip');

/** The client's address as the start limits count it. */
export function clientAddress(getClientAddress: () => string): string {
	return v.parse(ClientAddressSource, env.CLIENT_ADDRESS_SOURCE) === 'loopback' ? '127.0.0.1' : getClientAddress();
}

/**
 * Starts a sandbox for the visitor, through their start gate (one call: see `StartGateApi.start`),
 * within the start limits, replacing their previous sandbox; `clean` forgets their saved edits of
 * the template first.
 */
export async function startSandbox(
	platform: App.Platform | undefined,
	{ address, ...request }: Omit<GatedStart, 'network' | 'limits'> & { address: string }
): Promise<GatedStartReply> {
	const limits = {
		perVisitor: v.parse(Limit('10'), env.SANDBOX_VISITOR_STARTS_PER_MINUTE),
		perNetwork: v.parse(Limit('30'), env.SANDBOX_ADDRESS_STARTS_PER_MINUTE),
		liveAtNetwork: v.parse(Limit('3'), env.SANDBOX_ADDRESS_LIVE_SANDBOXES)
	};
	const gate = objectOf<StartGateApi>(platform, 'StartGate', visitorGateName(request.visitor));
	return structuredCopy(await gate.start({ ...request, network: clientNetwork(address), limits }));
}

/**
 * The sandbox's state, with its version, if it is the visitor's; 404 otherwise (a stranger's, one
 * never started, or one forgotten a day after it stopped). `wait` waits for the next change (see
 * the status page).
 */
export async function sandboxState(
	platform: App.Platform | undefined,
	id: string,
	visitor: string | null,
	wait: Omit<StatusRequest, 'visitor'> = {}
): Promise<NonNullable<StatusReply>> {
	// Copied: through the platform proxy the reply is a proxy object, which SvelteKit cannot serialize.
	const reply = visitor ? structuredCopy(await coordinatorOf(platform, id).status({ visitor, ...wait })) : null;
	if (!reply) error(404, 'No such sandbox');
	return reply;
}

/**
 * The API console's call, made by the sandbox's coordinator (which holds its token): 200 with the
 * answer's parts as they come, or the coordinator's refusal (400, 404, 409 with `{ message }`).
 */
export async function callSandboxApi(platform: App.Platform | undefined, id: string, call: ApiCall): Promise<Response> {
	const request = new Request(`https://coordinator${API_CALL_PATH}`, { method: 'POST', body: JSON.stringify(call) });
	return coordinatorOf(platform, id).fetch(request);
}

/** The app's logs as they come (200, parts one per line), or why not (409 with `{ message }`). */
export async function followSandboxLogs(platform: App.Platform | undefined, id: string): Promise<Response> {
	return coordinatorOf(platform, id).fetch(new Request(`https://coordinator${LOGS_PATH}`));
}

/** A shell in the sandbox over the browser's WebSocket (`search` is its size, `?cols&rows`), or the coordinator's refusal. */
export async function openSandboxTerminal(platform: App.Platform | undefined, id: string, search: string): Promise<Response> {
	return coordinatorOf(platform, id).fetch(new Request(`https://coordinator${TERMINAL_PATH}${search}`, { headers: { upgrade: 'websocket' } }));
}

/** A plain copy of an RPC reply (the platform proxy hands over proxies for objects). */
export function structuredCopy<T>(value: T): T {
	return value === null || value === undefined ? value : JSON.parse(JSON.stringify(value));
}
