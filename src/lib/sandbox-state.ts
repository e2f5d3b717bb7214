/**
 * What the server tells the browser about a sandbox — over the WebSocket, the
 * polling endpoint and the page's own load. Shared by server and client, so it
 * holds types and constants only.
 */
import type { LogLine } from './app-logs';

export type SandboxStatus = 'initializing' | 'ready' | 'error' | 'stopped';

export interface Step {
	label: string;
	state: 'active' | 'done' | 'failed';
	/** Epoch milliseconds. */
	startedAt: number;
	/** Set once the step has finished. */
	durationMs: number | null;
}

export interface SandboxSnapshot {
	id: string;
	/** The template's ID: its folder in sandbox/templates/. */
	template: string;
	status: SandboxStatus;
	steps: Step[];
	previewUrl: string | null;
	/** Private: only the visitor's browser can open the preview; public: anyone with its URL. */
	previewAccess: 'private' | 'public';
	/** Why it failed (`error`) or stopped (`stopped`); for an app that failed, its last lines of output as evidence. */
	error: { message: string; retryable: boolean; log?: LogLine[] } | null;
	/** While it runs: why its preview is blank or broken, if it is known to be (null once the app answers again). */
	problem: AppProblem | null;
}

/**
 * What is wrong with a running sandbox's app, from evidence: its process ended, nothing listens on
 * its port, it listens on loopback only, it answered with a server error (5xx), or (after a restart)
 * it answered its ready path with something else than a 2xx or 3xx.
 */
export interface AppProblem {
	kind: 'exited' | 'not-listening' | 'loopback-only' | 'server-error' | 'not-ready';
	message: string;
	/** The app's last lines of output. */
	log: LogLine[];
	/** When it was seen (epoch milliseconds). */
	at: number;
	/** For a server error, the request answered with it (`GET /api/notes`). */
	request?: string;
}

/**
 * What the WebSocket sends at every change, and the polling path answers. Every message carries the
 * whole snapshot, so a client that connects late or misses a message is never out of date; and its
 * version (one more at every change), so that a client that hears of the state from several sources
 * (its socket, a poll, the page's own reload) keeps the newest. There is deliberately no
 * content-free "connected" message: the client treats any message as proof that the WebSocket
 * works, and an empty one would switch its polling fallback off without telling it anything.
 */
export interface ServerMessage {
	type: 'progress' | 'ready' | 'error' | 'stopped';
	state: SandboxSnapshot;
	version: number;
}

export function messageFor(state: SandboxSnapshot, version: number): ServerMessage {
	return { type: state.status === 'initializing' ? 'progress' : state.status, state, version };
}

/** The editor's view of the app's sources (templates that have them, once the sandbox is ready). */
export interface EditorData {
	/** The files to offer, the open one included. */
	files: string[];
	/** The open file, relative to the app. */
	path: string;
	/** Null when the file could not be read; `problem` says why. */
	content: string | null;
	problem: string | null;
}

/** What the page learns from the redirect after a save. */
export interface SavedFile {
	path: string;
	/** When it was saved (epoch milliseconds): doubles as the preview's cache-busting key. */
	at: number;
	/** True when no browser was connected to hot-reload it, so the page reloads the preview. */
	reloaded: boolean;
}
