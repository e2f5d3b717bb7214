/**
 * A Svelte store of a sandbox's state, driven by a PreviewClient while it has
 * subscribers (in the browser only: during SSR it just holds the first state).
 */
import { browser } from '$app/environment';
import { readable, type Readable } from 'svelte/store';
import { PreviewClient, type PreviewClientOptions } from './preview-client';
import type { SandboxSnapshot, ServerMessage } from './sandbox-state';

export interface PreviewStore extends Readable<SandboxSnapshot> {
	/** A state the page loaded itself: shown if it is newer than the store's (see PreviewClient.offer). */
	offer(state: SandboxSnapshot, version: number): void;
}

export function previewStore(initial: SandboxSnapshot, version: number, options: () => PreviewClientOptions): PreviewStore {
	let client: PreviewClient | null = null;
	// What a client that starts later starts from: the newest state offered so far.
	let latest = { state: initial, version };
	const store = readable(initial, (set) => {
		if (!browser) return;
		client = new PreviewClient(options());
		client.on('state', set);
		client.start(latest.state, latest.version);
		return () => {
			client?.destroy();
			client = null;
		};
	});
	return {
		subscribe: store.subscribe,
		offer(state, version) {
			if (version > latest.version) latest = { state, version };
			client?.offer(state, version);
		}
	};
}

/** The WebSocket and polling endpoints of a sandbox, for the page at `location`. */
export function endpointsFor(id: string, location: Location): PreviewClientOptions {
	const base = `/api/sandbox/${encodeURIComponent(id)}`;
	return {
		webSocketUrl: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${base}/ws`,
		poll: async (): Promise<ServerMessage> => {
			const response = await fetch(`${base}/state`, { headers: { accept: 'application/json' } });
			if (!response.ok) throw new Error(`state request failed: ${response.status}`);
			return response.json();
		}
	};
}
