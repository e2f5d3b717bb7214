/**
 * Test helpers around a real local sandbox runtime's old API (/v1/sandboxes): start one with its
 * own state directory and talk to it. What looks at the host (/proc, ss, the filesystem) lives in
 * host.ts, re-exported here for the files that still import it from this one.
 */
import { startLocalRuntime, type LocalRuntimeHandle } from '../../sandbox/local/launch.ts';
import { PREVIEW_HOST_HEADER } from '../../sandbox/local/protocol.ts';
import { createLocalBackend } from '../../src/lib/server/sandbox/local.ts';
import type { Sandbox, SandboxBackend } from '../../src/lib/server/sandbox/types.ts';
import { scratchDir } from './host.ts';

export { listeningPorts, liveProcesses, sandboxProcesses, scratchDir, waitFor } from './host.ts';

export interface TestRuntime extends LocalRuntimeHandle {
	stateDir: string;
	backend: SandboxBackend;
	/** A control call with the right secret and Host, for checks the client would not make. */
	control(path: string, init?: RequestInit): Promise<Response>;
	/** A request for a preview host, as the app forwards it. */
	preview(previewUrl: string, init?: RequestInit): Promise<Response>;
}

export async function startTestRuntime(env: Record<string, string> = {}): Promise<TestRuntime> {
	const stateDir = env.LOCAL_SANDBOX_STATE_DIR ?? scratchDir('state-');
	const handle = await startLocalRuntime({ env: { LOCAL_SANDBOX_STATE_DIR: stateDir, ...env }, output: 'capture' });
	return {
		...handle,
		stateDir,
		backend: createLocalBackend({ url: handle.url, secret: handle.secret }),
		control: (path, init = {}) =>
			fetch(`${handle.url}${path}`, {
				...init,
				headers: { authorization: `Bearer ${handle.secret}`, ...(init.headers as Record<string, string>) }
			}),
		preview: (previewUrl, init = {}) => {
			const url = new URL(previewUrl);
			return fetch(`${handle.url}${url.pathname}${url.search}`, {
				...init,
				headers: { [PREVIEW_HOST_HEADER]: url.host, ...(init.headers as Record<string, string>) }
			});
		}
	};
}

/** A tiny HTTP server for inside a sandbox: answers with the sandbox's name and the Host it saw. */
export const NAMED_SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
	res.setHeader('content-type', 'application/json');
	res.end(JSON.stringify({ name: process.env.NAME, host: req.headers.host, forwardedHost: req.headers['x-forwarded-host'], path: req.url }));
}).listen(Number(process.env.PORT ?? 3001), '0.0.0.0');
`;

/** Fetches `url` from inside the sandbox with Node; answers the body, or the connection error's code. */
export async function fetchInside(sandbox: Sandbox, url: string): Promise<string> {
	const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) })
		.then((r) => r.text()).then((t) => process.stdout.write(t), (e) => process.stdout.write(String(e.cause?.code ?? e.name)))`;
	return (await sandbox.exec(`node -e '${script}'`)).stdout;
}
