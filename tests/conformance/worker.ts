/**
 * The conformance suite's worker: the SDK's own `Sandbox` Durable Object (with the local engine's
 * containers when workerd has no container runtime, the real image's when Docker runs), and a
 * small door for the tests to call it as an app would:
 *
 *   POST /call  { sandbox, options?, method, args?, processId? }
 *     calls `getSandbox(env.Sandbox, sandbox, options)[method](...args)` — or, with `processId`,
 *     the method of that process's handle — and answers { value } or { error: { name, message } };
 *     a stream (execStream, streamProcessLogs) is read to its end and answered as text
 *   any preview host ({port}-{id}-{token}.…)  answered by proxyToSandbox, as in production
 */
import { getSandbox, proxyToSandbox } from '@cloudflare/sandbox';

export { Sandbox } from '../../engine/workerd/sandbox.ts';

interface Env {
	Sandbox: Parameters<typeof getSandbox>[0];
}

interface Call {
	sandbox: string;
	options?: Parameters<typeof getSandbox>[2];
	method: string;
	args?: unknown[];
	processId?: string;
}

type Callable = Record<string, (...args: unknown[]) => Promise<unknown>>;

export default {
	async fetch(request: Request, env: Env): Promise<Response> {
		const preview = await proxyToSandbox(request, env);
		if (preview) return preview;
		const url = new URL(request.url);
		if (request.method !== 'POST' || url.pathname !== '/call') return new Response('Not found', { status: 404 });

		const call = (await request.json()) as Call;
		try {
			const sandbox = getSandbox(env.Sandbox, call.sandbox, call.options) as unknown as Callable;
			let target = sandbox;
			if (call.processId !== undefined) {
				const process = await sandbox.getProcess(call.processId);
				if (!process) throw new Error(`test worker: no process ${call.processId}`);
				target = process as Callable;
			}
			const value = await target[call.method](...(call.args ?? []));
			if (value instanceof ReadableStream) return Response.json({ value: await new Response(value).text() });
			return Response.json({ value: plain(value) });
		} catch (error) {
			const { name, message } = error as Error;
			return Response.json({ error: { name, message } });
		}
	}
};

/** What a result carries as data (a Process handle's fields, not its methods). */
function plain(value: unknown): unknown {
	return value === undefined ? null : JSON.parse(JSON.stringify(value));
}
