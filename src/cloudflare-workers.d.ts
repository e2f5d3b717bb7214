// The parts of workerd's `cloudflare:workers` module and runtime the app uses. (The full runtime types
// would clash with Node's and the DOM's, which the rest of the app is checked against.)
declare module 'cloudflare:workers' {
	export const env: Record<string, unknown>;

	/** A WebSocket as workerd has it: `accept`, then events (unless the hibernation API accepted it). */
	export interface WorkerWebSocket {
		accept(): void;
		/** How binary messages arrive: Blobs by default (the standard's choice, workerd's with recent compatibility dates). */
		binaryType: 'blob' | 'arraybuffer';
		send(message: string | ArrayBuffer): void;
		close(code?: number, reason?: string): void;
		addEventListener(type: 'message', listener: (event: { data: string | ArrayBuffer }) => void): void;
		addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
		addEventListener(type: 'error', listener: () => void): void;
	}

	export interface DurableObjectStorage {
		get<T>(key: string): Promise<T | undefined>;
		put(key: string, value: unknown): Promise<void>;
		put(entries: Record<string, unknown>): Promise<void>;
		deleteAll(): Promise<void>;
		getAlarm(): Promise<number | null>;
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
interface Response {
	readonly webSocket?: import('cloudflare:workers').WorkerWebSocket | null;
}

// The worker SvelteKit's adapter generates at build time (imported by src/worker.ts).
declare module '*/_worker.js' {
	const worker: {
		fetch(request: Request, env: unknown, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response>;
	};
	export default worker;
}
