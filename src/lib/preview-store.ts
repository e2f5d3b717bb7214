/**
 * A Svelte store of a sandbox's state, driven by a PreviewClient while it has
 * subscribers (in the browser only: during SSR it just holds the first state).
 */
import { browser } from '$app/environment';
import { readable, type Readable } from 'svelte/store';
import { PreviewClient, type PreviewClientOptions } from './preview-client';
import type { SandboxSnapshot } from './sandbox-state';

export function previewStore(initial: SandboxSnapshot, options: () => PreviewClientOptions): Readable<SandboxSnapshot> {
	return readable(initial, (set) => {
		if (!browser) return;
		const client = new PreviewClient(options());
		client.on('state', set);
		client.start(initial);
		return () => client.destroy();
	});
}

/** The WebSocket and polling endpoints of a sandbox, for the page at `location`. */
export function endpointsFor(id: string, location: Location): PreviewClientOptions {
	const base = `/api/sandbox/${encodeURIComponent(id)}`;
	return {
		webSocketUrl: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${base}/ws`,
		poll: async () => {
			const response = await fetch(`${base}/state`, { headers: { accept: 'application/json' } });
			if (!response.ok) throw new Error(`state request failed: ${response.status}`);
			return response.json();
		}
	};
}
