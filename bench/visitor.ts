/**
 * One visitor of the app at http://localhost:<port>, doing what a browser without JavaScript does:
 * its own cookies and connections, the start form posted with the page's Origin (the app refuses
 * cross-site posts), the redirect followed, then the sandbox's state until it is ready, and the
 * preview's first byte — going in through the app as the page's iframe does (the preview is
 * private: the app's /sandbox/{id}/preview hands out a one-time ticket, which the preview host
 * trades for its cookie). Preview requests go to the app's port with the preview host as Host, as
 * a browser resolving *.localhost would send them.
 *
 * The page without JavaScript waits on the server for the state's next change; this asks the state
 * endpoint (JSON, simpler to read than the page) every second instead. Asking more often would weigh
 * on what is measured: under `wrangler dev` each request costs workerd some 10 ms of CPU, and 20
 * visitors asking every 100 ms slowed their own boots by a sixth. The moment the sandbox became
 * ready comes from the app's own clock instead (the steps' timestamps), so the poll's lag can be
 * left out of the wait.
 */
import { Agent } from 'node:http';
import type { SandboxSnapshot, ServerMessage } from '../src/lib/sandbox-state.ts';
import { firstOk, send, type Reply } from './http.ts';

export const POLL_MS = 1000;
const READY_TIMEOUT_MS = 120_000;

export interface Boot {
	id: string;
	/** performance.now() just before the start form was posted. */
	postedAt: number;
	/** Date.now() at the same moment, to compare with the steps' server-side timestamps. */
	postedAtEpoch: number;
	/** The state once ready: the preview URL and every boot step with its start and duration. */
	state: SandboxSnapshot;
	/** The preview cookie (`name=value`) the visitor was given for it. */
	previewCookie: string;
	/** performance.now() when the state endpoint first answered ready. */
	seenReadyAt: number;
	/** performance.now() when the preview's first 200 arrived. */
	previewAt: number;
}

/** Form posted → the app's last step done (both on the wall clock: the app's runs on this machine). */
export function readyAfter({ state, postedAtEpoch }: Boot): number {
	const last = state.steps.at(-1)!;
	return last.startedAt + last.durationMs! - postedAtEpoch;
}

/** Form posted → the preview's first byte, without the time the poll took to notice readiness. */
export const toPreview = (boot: Boot) => readyAfter(boot) + (boot.previewAt - boot.seenReadyAt);

export class Visitor {
	readonly #port: number;
	readonly #agent = new Agent({ keepAlive: true, maxSockets: 6 });
	readonly #cookies = new Map<string, string>();
	/** The sandbox this visitor started, once the app has redirected to it. */
	#sandbox: string | null = null;

	constructor(port: number) {
		this.#port = port;
	}

	get #origin() {
		return `http://localhost:${this.#port}`;
	}

	/** A request to the app, with this visitor's cookies; keeps the cookies it is given. */
	async #request(method: string, path: string, form?: Record<string, string>): Promise<Reply> {
		const headers: Record<string, string> = { host: `localhost:${this.#port}`, accept: 'text/html' };
		if (this.#cookies.size > 0) headers.cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
		if (form) Object.assign(headers, { origin: this.#origin, 'content-type': 'application/x-www-form-urlencoded' });
		const reply = await send(this.#port, { method, path, headers, body: form && new URLSearchParams(form).toString(), agent: this.#agent });
		for (const cookie of [reply.headers['set-cookie'] ?? []].flat()) {
			const [pair] = cookie.split(';');
			const at = pair.indexOf('=');
			this.#cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
		}
		return reply;
	}

	async #expect(status: number, method: string, path: string, form?: Record<string, string>): Promise<Reply> {
		const reply = await this.#request(method, path, form);
		if (reply.status !== status) throw new Error(`${method} ${path} answered ${reply.status}, not ${status}: ${reply.body.slice(0, 300)}`);
		return reply;
	}

	/** Opens the home page (untimed): a visitor has it loaded before they press Start. */
	async openHome() {
		await this.#expect(200, 'GET', '/');
	}

	/** Presses Start on a full machine: how long the app took to answer 503 (every sandbox is busy). */
	async startRefused(template: string): Promise<number> {
		const postedAt = performance.now();
		await this.#expect(503, 'POST', '/?/start', { template });
		return performance.now() - postedAt;
	}

	/** Presses Start, follows the redirect and waits for the sandbox's preview: the whole boot, timed. */
	async boot(template: string): Promise<Boot> {
		const postedAt = performance.now();
		const postedAtEpoch = Date.now();
		const posted = await this.#expect(303, 'POST', '/?/start', { template });
		const page = String(posted.headers.location);
		const id = decodeURIComponent(page.slice(page.lastIndexOf('/') + 1));
		this.#sandbox = id;
		await this.#expect(200, 'GET', page);
		const state = await this.#ready(id);
		const seenReadyAt = performance.now();
		const previewCookie = await this.#enterPreview(id);
		const previewAt = await firstOk(this.#port, { headers: { host: new URL(state.previewUrl!).host, cookie: previewCookie }, agent: this.#agent });
		return { id, postedAt, postedAtEpoch, state, previewCookie, seenReadyAt, previewAt };
	}

	/** The iframe's way in: the app's redirect with a one-time ticket, traded at the preview host for its cookie. */
	async #enterPreview(id: string): Promise<string> {
		const entry = await this.#expect(303, 'GET', `/sandbox/${encodeURIComponent(id)}/preview`);
		const ticket = new URL(String(entry.headers.location));
		const access = await send(this.#port, { path: ticket.pathname + ticket.search, headers: { host: ticket.host }, agent: this.#agent });
		const cookie = [access.headers['set-cookie'] ?? []].flat()[0];
		if (access.status !== 303 || !cookie) throw new Error(`the preview's ticket was answered ${access.status}: ${access.body.slice(0, 300)}`);
		return cookie.split(';')[0];
	}

	async #ready(id: string): Promise<SandboxSnapshot> {
		const deadline = performance.now() + READY_TIMEOUT_MS;
		for (;;) {
			const { state } = JSON.parse((await this.#expect(200, 'GET', `/api/sandbox/${encodeURIComponent(id)}/state`)).body) as ServerMessage;
			if (state.status === 'ready' && state.previewUrl) return state;
			if (state.status === 'error') throw new Error(`sandbox ${id} failed to start: ${state.error?.message}`);
			if (performance.now() > deadline) throw new Error(`sandbox ${id} not ready within ${READY_TIMEOUT_MS / 1000} s`);
			await new Promise((resolve) => setTimeout(resolve, POLL_MS));
		}
	}

	/** Presses Stop on its sandbox's page, if it started one: the app destroys it now rather than at its idle TTL. */
	async stop() {
		if (this.#sandbox === null) return;
		await this.#expect(303, 'POST', `/sandbox/${encodeURIComponent(this.#sandbox)}?/stop`, {});
		this.#sandbox = null;
	}

	close() {
		this.#agent.destroy();
	}
}
