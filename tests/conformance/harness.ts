/**
 * Runs the conformance worker (worker.ts) in workerd as `npm run preview` runs the app, with
 * dev/wrangler-dev.ts: without Docker, the SDK's Durable Object gets its containers from a local
 * engine started here; with SANDBOX_CONFORMANCE=docker, from a Docker engine and the real container
 * image (sandbox/Dockerfile), so the same assertions check the engine against the real thing; with
 * SANDBOX_CONFORMANCE=sdk-server, from the engine again, but running the SDK's own control server in
 * each container instead of ours (built by sdk-server.ts).
 */
import { request as httpRequest } from 'node:http';
import { startEngine, type EngineHandle } from '../../engine/launch.ts';
import { runWranglerDev } from '../../dev/wrangler-dev.ts';
import { DEPLOYED_CONFIG, type WorkerDerivation } from '../../dev/worker-config.ts';
import { scratchDir } from '../helpers/host.ts';
import { sdkServerPrograms } from './sdk-server.ts';

/**
 * The suite's worker (worker.ts): the SDK's Sandbox alone, with the local engine's containers, or
 * (workerd's own containers, SANDBOX_CONFORMANCE=docker) the real image's (sandbox/Dockerfile).
 */
export const CONFORMANCE_WORKER: WorkerDerivation = { main: 'tests/conformance/worker.ts', name: 'sandbox-conformance', durableObjects: ['Sandbox'] };

export interface CallResult {
	value?: unknown;
	error?: { name: string; message: string };
}

export interface PreviewResponse {
	status: number;
	body: string;
	headers: Record<string, string | string[] | undefined>;
}

export interface ConformanceWorker {
	/**
	 * localhost:<port>, the worker's address as preview URLs hang off it. (Not 127.0.0.1: the SDK
	 * builds preview URLs for a host with a port correctly only for localhost.)
	 */
	host: string;
	/** The engine (null against Docker). */
	engine: EngineHandle | null;
	/** The SDK release of the SDK's own control server, when the engine runs it (SANDBOX_CONFORMANCE=sdk-server). */
	controlServerVersion?: string;
	stateDir: string | null;
	call(sandbox: string, method: string, args?: unknown[], extra?: { options?: object; processId?: string }): Promise<CallResult>;
	/** A request for a preview URL, sent to the worker with the preview host in its Host header. */
	preview(url: string, init?: { method?: string; headers?: Record<string, string> }): Promise<PreviewResponse>;
	output(): string;
	stop(): Promise<void>;
}

export interface ConformanceOptions {
	/** The SDK's log level (its SANDBOX_LOG_LEVEL): the tests read its debug log, a benchmark wants quiet. */
	sdkLogLevel?: 'debug' | 'info';
}

export async function startConformanceWorker({ sdkLogLevel = 'debug' }: ConformanceOptions = {}): Promise<ConformanceWorker> {
	const docker = process.env.SANDBOX_CONFORMANCE === 'docker';
	const stateDir = docker ? null : scratchDir('conformance-');
	const engineEnv: Record<string, string> = { SANDBOX_ENGINE_MAX: '8' };
	const sdkServer = process.env.SANDBOX_CONFORMANCE === 'sdk-server' ? sdkServerPrograms() : null;
	if (sdkServer) Object.assign(engineEnv, { SANDBOX_ENGINE_CONTROL_SERVER: sdkServer.script, SANDBOX_ENGINE_CONTROL_RUNTIME: sdkServer.runtime });
	const engine = stateDir ? await startEngine({ env: { ...engineEnv, SANDBOX_ENGINE_STATE_DIR: stateDir }, output: 'capture' }) : null;
	// The SDK's debug log says, among other things, whether the container's version matches its own.
	const vars: Record<string, string> = { SANDBOX_LOG_LEVEL: sdkLogLevel };
	if (engine) Object.assign(vars, { SANDBOX_ENGINE_URL: engine.url, SANDBOX_ENGINE_SECRET: engine.secret });
	const wrangler = runWranglerDev({
		config: DEPLOYED_CONFIG,
		derive: CONFORMANCE_WORKER,
		ip: '127.0.0.1',
		port: 0,
		// Durable Object storage of this run only: no tokens or state from an earlier one.
		persist: scratchDir('conformance-persist-'),
		enableContainers: !engine,
		devRegistry: false,
		vars,
		env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
		stdio: 'pipe'
	});
	let log = '';
	wrangler.child.stdout!.on('data', (chunk) => (log += chunk));
	wrangler.child.stderr!.on('data', (chunk) => (log += chunk));
	const stop = async () => {
		await wrangler.stop();
		await engine?.stop();
	};
	let port: number;
	try {
		port = Number((await wrangler.ready).port);
	} catch (error) {
		await stop();
		throw new Error(`${(error as Error).message}:\n${log}`);
	}
	const base = `http://127.0.0.1:${port}`;

	return {
		host: `localhost:${port}`,
		engine,
		controlServerVersion: sdkServer?.version,
		stateDir,
		async call(sandbox, method, callArgs = [], extra = {}) {
			const response = await fetch(`${base}/call`, {
				method: 'POST',
				body: JSON.stringify({ sandbox, method, args: callArgs, options: extra.options, processId: extra.processId })
			});
			if (!response.ok) throw new Error(`the test worker answered ${response.status}: ${await response.text()}`);
			return (await response.json()) as CallResult;
		},
		preview: (url, init = {}) => previewRequest(port, url, init),
		output: () => `${log}\n${engine?.output() ?? ''}`,
		stop
	};
}

function previewRequest(port: number, previewUrl: string, init: { method?: string; headers?: Record<string, string> }): Promise<PreviewResponse> {
	const url = new URL(previewUrl);
	return new Promise((resolve, reject) => {
		const req = httpRequest(
			{ host: '127.0.0.1', port, path: `${url.pathname}${url.search}`, method: init.method ?? 'GET', headers: { ...init.headers, host: url.host } },
			(res) => {
				let body = '';
				res.setEncoding('utf8');
				res.on('data', (chunk) => (body += chunk));
				res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
				res.on('error', reject);
			}
		);
		req.on('error', reject);
		req.end();
	});
}
