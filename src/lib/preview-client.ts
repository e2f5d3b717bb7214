/**
 * Follows a sandbox in the browser: its boot, then, once it is ready, what
 * becomes of its app (a problem, a restart) until it fails or stops.
 * Framework-agnostic.
 *
 * - The WebSocket is the primary channel, and reconnects when it drops.
 * - Polling is a last resort during a boot: it starts only if no WebSocket has
 *   delivered a substantive message within `pollFallbackDelay` of the start —
 *   or of a socket closing, since a socket that spoke once and then dropped,
 *   with every reconnect failing, would otherwise leave the page on its last
 *   state for good — and stops itself as soon as a socket delivers. A ready
 *   sandbox is followed over the socket alone, reconnecting ever more slowly
 *   while it fails: a poll counts as use, which an open tab alone must not be
 *   (the page's heartbeat is what keeps it).
 * - The page may load the state anew itself (after a form's action): `offer()`
 *   hands it over. Every source's state carries its version, and the newest wins.
 * - On error or stop everything closes: socket, timers, polling.
 * - `on()` returns an unsubscribe function; `destroy()` clears every timer,
 *   socket and listener.
 */
import type { SandboxSnapshot, SandboxStatus, ServerMessage } from './sandbox-state';

export interface PreviewClientOptions {
	/** Absolute ws:// or wss:// URL of the sandbox's WebSocket route. */
	webSocketUrl: string;
	/** Fetches the current state, as the socket would send it (the polling fallback). */
	poll: () => Promise<ServerMessage>;
	pollFallbackDelay?: number;
	pollInterval?: number;
	reconnectDelay?: number;
}

type Events = {
	state: SandboxSnapshot;
	/** Each time it becomes ready (again, after a restart). */
	ready: SandboxSnapshot;
	/** It failed or stopped: nothing more will come. */
	error: SandboxSnapshot;
};
type Listener<E extends keyof Events> = (value: Events[E]) => void;

const MAX_RECONNECT_DELAY_MS = 60_000;

const SUBSTANTIVE: ReadonlySet<string> = new Set(['progress', 'ready', 'error', 'stopped']);

export class PreviewClient {
	private readonly options: Required<PreviewClientOptions>;
	private readonly listeners: { [E in keyof Events]: Set<Listener<E>> } = {
		state: new Set(),
		ready: new Set(),
		error: new Set()
	};
	private socket: WebSocket | null = null;
	/** Whether the current socket has delivered (reset when a socket closes). */
	private webSocketDelivered = false;
	/** Reconnects in a row whose socket delivered nothing, while the sandbox is ready. */
	private failedReconnects = 0;
	private status: SandboxStatus | null = null;
	/** The version of the state last applied: an older one, from whichever source, is not applied. */
	private version = -1;
	private settled = false;
	private destroyed = false;
	private fallbackTimer: ReturnType<typeof setTimeout> | null = null;
	private pollTimer: ReturnType<typeof setInterval> | null = null;
	private reconnectTimer: ReturnType<typeof setTimeout> | null = null;

	constructor(options: PreviewClientOptions) {
		this.options = { pollFallbackDelay: 5000, pollInterval: 5000, reconnectDelay: 2000, ...options };
	}

	on<E extends keyof Events>(event: E, listener: Listener<E>): () => void {
		this.listeners[event].add(listener);
		return () => this.listeners[event].delete(listener);
	}

	/** Starts following from the state the page already has. A failed or stopped sandbox needs no connection at all. */
	start(initial: SandboxSnapshot, version: number) {
		this.apply(initial, version);
		if (this.settled || this.destroyed) return;
		this.connect();
		this.armFallback();
	}

	/**
	 * A state the page loaded itself (a form's action reloads its data): taken if it is newer than
	 * the last one applied. A restart it reports is then followed like any boot, by polling if the
	 * socket is down, rather than when the socket next reconnects.
	 */
	offer(state: SandboxSnapshot, version: number) {
		this.apply(state, version);
	}

	private get booting() {
		return this.status === 'initializing';
	}

	destroy() {
		this.destroyed = true;
		this.stop();
		for (const set of Object.values(this.listeners)) set.clear();
	}

	private connect() {
		const socket = new WebSocket(this.options.webSocketUrl);
		this.socket = socket;
		socket.addEventListener('message', (event) => {
			const message = parse(event.data);
			if (!message) return;
			this.webSocketDelivered = true;
			this.failedReconnects = 0;
			this.stopPolling();
			this.apply(message.state, message.version);
		});
		socket.addEventListener('close', () => {
			if (this.socket !== socket) return;
			this.socket = null;
			if (!this.settled && !this.destroyed) {
				this.webSocketDelivered = false;
				if (this.booting) this.armFallback();
				this.reconnectTimer = setTimeout(() => {
					this.reconnectTimer = null;
					this.connect();
				}, this.nextReconnectDelay());
			}
		});
	}

	/**
	 * A boot is short, and polling backs its socket up: the same delay every time. A ready sandbox
	 * may be followed for hours: each reconnect that delivers nothing waits twice as long, up to a minute.
	 */
	private nextReconnectDelay(): number {
		if (this.booting) return this.options.reconnectDelay;
		return Math.min(this.options.reconnectDelay * 2 ** this.failedReconnects++, MAX_RECONNECT_DELAY_MS);
	}

	/** Polls unless a socket delivers within the grace period (a deadline already set is kept), during a boot. */
	private armFallback() {
		if (this.fallbackTimer || !this.booting) return;
		this.fallbackTimer = setTimeout(() => {
			this.fallbackTimer = null;
			if (!this.webSocketDelivered) this.startPolling();
		}, this.options.pollFallbackDelay);
	}

	private startPolling() {
		if (this.pollTimer || !this.booting || this.destroyed) return;
		const tick = async () => {
			if (this.webSocketDelivered) return this.stopPolling();
			try {
				const message = await this.options.poll();
				if (!this.destroyed && !this.webSocketDelivered) this.apply(message.state, message.version);
			} catch {
				// A failed poll is retried at the next tick.
			}
		};
		this.pollTimer = setInterval(tick, this.options.pollInterval);
		void tick();
	}

	private stopPolling() {
		if (this.pollTimer) clearInterval(this.pollTimer);
		this.pollTimer = null;
	}

	private apply(state: SandboxSnapshot, version: number) {
		if (this.settled || this.destroyed || version <= this.version) return;
		this.version = version;
		const before = this.status;
		this.status = state.status;
		this.emit('state', state);
		if (state.status === 'initializing') {
			if (before !== 'initializing') this.armFallback(); // a boot (a restart) begins
			return;
		}
		if (state.status === 'ready') {
			this.stopPolling();
			this.clearFallback();
			if (before !== 'ready') this.emit('ready', state);
			return;
		}
		this.settled = true;
		this.emit('error', state);
		this.stop();
	}

	private clearFallback() {
		if (this.fallbackTimer) clearTimeout(this.fallbackTimer);
		this.fallbackTimer = null;
	}

	private emit<E extends keyof Events>(event: E, value: Events[E]) {
		for (const listener of this.listeners[event]) listener(value);
	}

	private stop() {
		this.stopPolling();
		for (const timer of [this.fallbackTimer, this.reconnectTimer]) if (timer) clearTimeout(timer);
		this.fallbackTimer = this.reconnectTimer = null;
		const socket = this.socket;
		this.socket = null;
		socket?.close(1000);
	}
}

/** A server message, or null for anything else (a handshake, garbage, a message without state). */
function parse(data: unknown): ServerMessage | null {
	if (typeof data !== 'string') return null;
	try {
		const message = JSON.parse(data) as Partial<ServerMessage>;
		return message && SUBSTANTIVE.has(message.type as string) && typeof message.state === 'object' && message.state && typeof message.version === 'number'
			? (message as ServerMessage)
			: null;
	} catch {
		return null;
	}
}
