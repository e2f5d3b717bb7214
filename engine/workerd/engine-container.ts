/**
 * workerd's Container API — the `ctx.container` of a Durable Object — as @cloudflare/containers
 * (and so the SDK's `Sandbox`) uses it, backed by the local engine instead of a container VM.
 * Runs inside workerd; talks to the engine over HTTP (engine-api.ts) and to the container's ports
 * over the TCP forwards the engine opens on 127.0.0.1.
 *
 * The semantics follow workerd's: `running` is known synchronously; `start()` returns at once and
 * the container comes up in the background; `monitor()` resolves when the container exits with 0
 * and rejects otherwise with the message the containers library parses the exit code from; a
 * fetch to a port nothing listens on fails with workerd's "not listening" message (a refused
 * connection would otherwise surface as "Network connection lost", which the library reads as a
 * crashed container).
 */
import { ORIGINAL_HOST_HEADER, TOKEN_HEADER } from '../forwarded-head.ts';

export interface EngineAddress {
	/** http://127.0.0.1:<port> of the engine. */
	url: string;
	/** Its bearer secret. */
	secret: string;
}

interface StartOptions {
	env?: Record<string, string>;
	enableInternet?: boolean;
	entrypoint?: string[];
}

/** The messages workerd uses, which @cloudflare/containers matches on. */
const NO_INSTANCE = 'There is no Container instance that can be provided to this Durable Object';
const NOT_LISTENING = 'The container is not listening on the TCP address';
const EXIT_CODE = 'Container exited with unexpected exit code:';

class EngineError extends Error {
	readonly code: string;
	constructor(code: string, message: string) {
		super(message);
		this.code = code;
	}
}

export class EngineContainer {
	readonly #engine: EngineAddress;
	readonly #name: string;
	readonly #label: string | undefined;
	#running = false;
	/** Settles once the engine has started the current run (rejects if it could not). */
	#started: Promise<void> = Promise.resolve();
	/** What monitor() hands out for the current run. */
	#exit: Promise<void> | null = null;
	/** guest port → where the engine opened it on 127.0.0.1, and the token it asks for. */
	#ports = new Map<number, Promise<{ hostPort: number; token: string }>>();

	/**
	 * `name`: the Durable Object's ID, which names its container in the engine; `label`: the name
	 * the object was made from, if any, which the engine shows people.
	 */
	constructor(engine: EngineAddress, name: string, label?: string) {
		this.#engine = engine;
		this.#name = name;
		// What the engine accepts as a label; the name (the object's ID) is what counts.
		this.#label = label?.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 128) || undefined;
	}

	get running(): boolean {
		return this.#running;
	}

	/**
	 * Learns whether the container already runs — a Durable Object that was evicted and woke up
	 * again finds its container where it left it, as on Cloudflare. Call it before anything reads
	 * `running` (the Sandbox's constructor does, within blockConcurrencyWhile).
	 */
	async attach(): Promise<void> {
		const status = (await this.#call('GET', '')) as { running: boolean };
		if (status.running && !this.#running) {
			this.#running = true;
			this.#watch();
		}
	}

	start(options: StartOptions = {}): void {
		if (this.#running) throw new Error('start() cannot be called on a container that is already running.');
		if (options.entrypoint) throw new Error('The local container engine runs the sandbox control server; it takes no entrypoint.');
		this.#running = true;
		this.#ports.clear();
		const body = { env: options.env ?? {}, enableInternet: options.enableInternet ?? true, label: this.#label };
		this.#started = this.#call('PUT', '', body).then(() => {});
		this.#watch();
	}

	monitor(): Promise<void> {
		if (!this.#running || !this.#exit) return Promise.reject(new Error('monitor() cannot be called on a container that is not running.'));
		return this.#exit;
	}

	async destroy(_reason?: unknown): Promise<void> {
		if (!this.#running) return;
		// After the start's own request: one that arrived first would find nothing to destroy.
		await this.#started.catch(() => {});
		await this.#call('DELETE', '');
		await this.#exit?.catch(() => {});
	}

	signal(signo: number): void {
		if (!this.#running) return;
		void this.#started
			.then(() => this.#call('POST', '/signal', { signal: signo }))
			.catch(() => {
				// It stopped (or never started) meanwhile: monitor() reports that.
			});
	}

	getTcpPort(port: number) {
		return {
			fetch: (input: RequestInfo | URL, init?: RequestInit) => this.#fetchPort(port, new Request(input, init)),
			connect: () => {
				throw new Error('The local container engine supports fetch() to container ports, not connect().');
			}
		};
	}

	/** Outbound interception needs Cloudflare's container network; nothing here uses it. */
	async interceptOutboundHttp(): Promise<void> {
		throw new Error('Outbound interception is not supported by the local container engine.');
	}
	interceptOutboundHttps = this.interceptOutboundHttp;
	interceptAllOutboundHttp = this.interceptOutboundHttp;

	/** Follows the current run until it ends; what monitor() returns. */
	#watch() {
		const run = this.#started.then(() => this.#call('GET', '/exit') as Promise<{ exitCode: number }>);
		this.#exit = run.then(
			({ exitCode }) => {
				this.#running = false;
				if (exitCode !== 0) throw new Error(`${EXIT_CODE} ${exitCode}`);
			},
			(error: unknown) => {
				this.#running = false;
				throw error instanceof EngineError && error.code === 'CAPACITY_EXCEEDED' ? new Error(`${NO_INSTANCE}. ${error.message}`) : error;
			}
		);
		// Nobody may be listening yet; an unheard rejection must not be reported as unhandled.
		this.#exit.catch(() => {});
	}

	async #fetchPort(port: number, request: Request): Promise<Response> {
		if (!this.#running) throw new Error(`${NOT_LISTENING}: the container is not running`);
		await this.#started;
		let open = this.#ports.get(port);
		if (!open) {
			open = this.#call('POST', `/ports/${port}`) as Promise<{ hostPort: number; token: string }>;
			this.#ports.set(port, open);
			open.catch(() => this.#ports.delete(port));
		}
		const { hostPort, token } = await open;
		const url = new URL(request.url);
		// Redirects go back to the caller, never followed here: a container's answer must not send
		// this request (and its body) anywhere else on the host.
		const target = new Request(`http://127.0.0.1:${hostPort}${url.pathname}${url.search}`, new Request(request, { redirect: 'manual' }));
		// The port forwarder reads these two from the first request of a connection (forwarded-head.ts):
		// the port's token, and for an upgrade the host it was asked for (workerd sends the URL's).
		target.headers.set(TOKEN_HEADER, token);
		target.headers.delete(ORIGINAL_HOST_HEADER);
		if (request.headers.get('upgrade')?.toLowerCase() === 'websocket') target.headers.set(ORIGINAL_HOST_HEADER, url.host);
		try {
			return await fetch(target);
		} catch (error) {
			// The forward resets a connection when nothing listens inside.
			if (/network connection lost|connection reset|refused/i.test(String((error as Error)?.message))) {
				throw new Error(`${NOT_LISTENING} ${url.host}, port ${port}`, { cause: error });
			}
			throw error;
		}
	}

	async #call(method: string, path: string, body?: unknown): Promise<unknown> {
		const response = await fetch(`${this.#engine.url}/v1/containers/${encodeURIComponent(this.#name)}${path}`, {
			method,
			headers: { authorization: `Bearer ${this.#engine.secret}`, 'content-type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body)
		});
		const text = await response.text();
		if (response.ok) return text ? JSON.parse(text) : {};
		let error = { code: 'INTERNAL', message: `the container engine answered ${response.status}: ${text.slice(0, 200)}` };
		try {
			error = (JSON.parse(text) as { error: typeof error }).error ?? error;
		} catch {
			// Not JSON: keep the status line.
		}
		throw new EngineError(error.code, error.message);
	}
}
