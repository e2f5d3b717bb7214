// The parts of workerd's `cloudflare:workers` module and runtime the app uses. (The full runtime types
// would clash with Node's and the DOM's, which the rest of the app is checked against.)
declare module 'cloudflare:workers' {
	export const env: Record<string, unknown>;

	/** A WebSocket as workerd has it: `accept`, and the hibernation API's attachments. */
	export interface WorkerWebSocket {
		accept(): void;
		send(message: string): void;
		close(code?: number, reason?: string): void;
	}

	export interface DurableObjectStorage {
		get<T>(key: string): Promise<T | undefined>;
		put(key: string, value: unknown): Promise<void>;
		deleteAll(): Promise<void>;
		setAlarm(scheduledTime: number): Promise<void>;
		deleteAlarm(): Promise<void>;
	}

	export interface DurableObjectState {
		readonly id: { toString(): string; readonly name?: string };
		readonly storage: DurableObjectStorage;
		blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>;
		waitUntil(promise: Promise<unknown>): void;
		acceptWebSocket(socket: WorkerWebSocket): void;
		getWebSockets(): WorkerWebSocket[];
	}

	export abstract class DurableObject<Env = unknown> {
		protected readonly ctx: DurableObjectState;
		protected readonly env: Env;
		constructor(ctx: DurableObjectState, env: Env);
	}
}

// workerd's global WebSocketPair and the `webSocket` member of a 101 response.
declare const WebSocketPair: { new (): { 0: import('cloudflare:workers').WorkerWebSocket; 1: import('cloudflare:workers').WorkerWebSocket } };
interface ResponseInit {
	webSocket?: unknown;
}

// The worker SvelteKit's adapter generates at build time (imported by src/worker.ts).
declare module '*/_worker.js' {
	const worker: {
		fetch(request: Request, env: unknown, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response>;
	};
	export default worker;
}
