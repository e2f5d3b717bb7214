/**
 * Test helpers around a real container engine (engine/), driven through its container API
 * as workerd's Durable Objects drive it (engine-api.ts): start an engine with its own state
 * directory, start containers by name, open their ports, and run commands inside through each
 * container's control server (the SDK's container protocol on port 3000, see control/).
 *
 * Commands run sessionless (a fresh `bash -c` each, as `getSandbox(…, { enableDefaultSession:
 * false })` runs them): nothing one test does in a shell carries over to the next.
 */
import { startEngine, type EngineHandle } from '../../engine/launch.ts';
import { TOKEN_HEADER } from '../../engine/forwarded-head.ts';
import { scratchDir } from './host.ts';

/** The control server's port inside every container. */
export const CONTROL_PORT = 3000;
/** The session ID that asks the control server for sessionless execution. */
const SESSIONLESS = '__DISABLE_SESSION__';

export interface TestEngine extends EngineHandle {
	stateDir: string;
	/** A call to the engine's API with its secret, for checks the helpers below would not make. */
	api(path: string, init?: RequestInit): Promise<Response>;
	/** Starts the named container and answers its handle; rejects with an EngineError when the engine refuses. */
	createContainer(name: string, options?: StartOptions): Promise<TestContainer>;
	/** The handle of a container by name, without starting it. */
	container(name: string): TestContainer;
}

export interface StartOptions {
	env?: Record<string, string>;
	enableInternet?: boolean;
}

/** What the engine answered other than 2xx, with its error's code. */
export class EngineError extends Error {
	readonly status: number;
	readonly code: string;
	readonly retryable: boolean;
	/** The Retry-After header, when the engine sent one. */
	readonly retryAfter: string | null;

	constructor(status: number, code: string, message: string, retryable: boolean, retryAfter: string | null) {
		super(message);
		this.status = status;
		this.code = code;
		this.retryable = retryable;
		this.retryAfter = retryAfter;
	}
}

export interface ExecResult {
	stdout: string;
	stderr: string;
	exitCode: number;
}

/** A port of a container opened on the host's 127.0.0.1, and the token its connections must name. */
export interface OpenPort {
	hostPort: number;
	token: string;
}

export async function startTestEngine(env: Record<string, string> = {}): Promise<TestEngine> {
	const stateDir = env.SANDBOX_ENGINE_STATE_DIR ?? scratchDir('engine-');
	const handle = await startEngine({ env: { SANDBOX_ENGINE_STATE_DIR: stateDir, ...env }, output: 'capture' });
	const engine: TestEngine = {
		...handle,
		stateDir,
		api: (path, init = {}) =>
			fetch(`${handle.url}${path}`, {
				...init,
				headers: { authorization: `Bearer ${handle.secret}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) }
			}),
		container: (name) => new TestContainer(engine, name),
		async createContainer(name, options = {}) {
			const container = new TestContainer(engine, name);
			await container.start(options);
			return container;
		}
	};
	return engine;
}

/** Answers the JSON body of a 2xx response; throws an EngineError for anything else. */
async function engineJson<T>(response: Response): Promise<T> {
	const text = await response.text();
	if (response.ok) return JSON.parse(text) as T;
	let error: { code?: string; message?: string; retryable?: boolean } = {};
	try {
		error = (JSON.parse(text) as { error: typeof error }).error ?? {};
	} catch {
		// Not JSON: the text is the message.
	}
	throw new EngineError(response.status, error.code ?? 'UNKNOWN', error.message ?? text, error.retryable ?? false, response.headers.get('retry-after'));
}

export class TestContainer {
	readonly name: string;
	private readonly engine: TestEngine;
	private readonly ports = new Map<number, Promise<OpenPort>>();

	constructor(engine: TestEngine, name: string) {
		this.engine = engine;
		this.name = name;
	}

	private path(rest = '') {
		return `/v1/containers/${encodeURIComponent(this.name)}${rest}`;
	}

	/** PUT: starts the container; resolves once its control server listens. */
	async start({ env = {}, enableInternet = true }: StartOptions = {}): Promise<{ running: boolean; exitCode: number | null }> {
		this.ports.clear();
		return engineJson(await this.engine.api(this.path(), { method: 'PUT', body: JSON.stringify({ env, enableInternet }) }));
	}

	async status(): Promise<{ running: boolean; exitCode: number | null }> {
		return engineJson(await this.engine.api(this.path()));
	}

	/** The exit code, once the container has stopped (the engine's long poll). */
	async waitForExit(): Promise<number> {
		return (await engineJson<{ exitCode: number }>(await this.engine.api(this.path('/exit')))).exitCode;
	}

	async signal(signal: number): Promise<void> {
		await engineJson(await this.engine.api(this.path('/signal'), { method: 'POST', body: JSON.stringify({ signal }) }));
	}

	async destroy(): Promise<void> {
		this.ports.clear();
		await engineJson(await this.engine.api(this.path(), { method: 'DELETE' }));
	}

	/** Where `guestPort` is open on the host, asked of the engine once per port. */
	port(guestPort: number): Promise<OpenPort> {
		let open = this.ports.get(guestPort);
		if (!open) {
			open = this.engine.api(this.path(`/ports/${guestPort}`), { method: 'POST' }).then((response) => engineJson<OpenPort>(response));
			this.ports.set(guestPort, open);
			open.catch(() => this.ports.delete(guestPort));
		}
		return open;
	}

	/**
	 * A request to `guestPort` through its forward, naming the port's token (which the first request
	 * of every connection must, and later ones may: so every request here does).
	 */
	async fetchPort(guestPort: number, path: string, init: RequestInit = {}): Promise<Response> {
		const { hostPort, token } = await this.port(guestPort);
		return fetch(`http://127.0.0.1:${hostPort}${path}`, {
			...init,
			headers: { [TOKEN_HEADER]: token, ...(init.headers as Record<string, string>) }
		});
	}

	/** A call to the container's control server: its status and JSON body. */
	async control(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
		const response = await this.fetchPort(CONTROL_PORT, path, {
			method,
			headers: body === undefined ? {} : { 'content-type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body)
		});
		const text = await response.text();
		try {
			return { status: response.status, body: JSON.parse(text) };
		} catch {
			return { status: response.status, body: text };
		}
	}

	/** Runs a command to its end (sessionless, in /workspace); a timeout kills it and answers 124. */
	async exec(command: string, options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ExecResult> {
		const { status, body } = await this.control('POST', '/api/execute', { command, sessionId: SESSIONLESS, ...options });
		if (status !== 200) throw new Error(`exec ${command}: ${status} ${JSON.stringify(body)}`);
		return { stdout: body.stdout, stderr: body.stderr, exitCode: body.exitCode };
	}

	/** Starts a background process (sessionless); answers its ID and its PID inside the container. */
	async startProcess(command: string, options: { processId?: string; cwd?: string; env?: Record<string, string> } = {}): Promise<{ processId: string; pid: number }> {
		const { status, body } = await this.control('POST', '/api/process/start', { command, sessionId: SESSIONLESS, ...options });
		if (status !== 200) throw new Error(`startProcess ${command}: ${status} ${JSON.stringify(body)}`);
		return { processId: body.processId, pid: body.pid };
	}

	/** Writes a file through the control server; answers the protocol's status and body (errors included). */
	writeFile(path: string, content: string): Promise<{ status: number; body: Json }> {
		return this.control('POST', '/api/write', { path, content, sessionId: SESSIONLESS });
	}

	/** Resolves once something accepts connections on `port` inside (the SDK's port watch, TCP mode). */
	async waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
		const response = await this.fetchPort(CONTROL_PORT, '/api/port-watch', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ port, mode: 'tcp', interval: 100 }),
			signal: AbortSignal.timeout(timeoutMs)
		});
		const events = await response.text();
		if (!events.includes('"type":"ready"')) throw new Error(`port ${port} did not become ready: ${events}`);
	}
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Fetches `url` from inside the container with Node; answers the body, or the connection error's code. */
export async function fetchInside(container: TestContainer, url: string): Promise<string> {
	const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) })
		.then((r) => r.text()).then((t) => process.stdout.write(t), (e) => process.stdout.write(String(e.cause?.code ?? e.name)))`;
	return (await container.exec(`node -e '${script}'`)).stdout;
}

/** A tiny HTTP server for inside a container: answers with its name and the Host it saw. */
export const NAMED_SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
	res.setHeader('content-type', 'application/json');
	res.end(JSON.stringify({ name: process.env.NAME, host: req.headers.host, path: req.url }));
}).listen(Number(process.env.PORT ?? 3001), '0.0.0.0');
`;
