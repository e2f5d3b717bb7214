// The one part of workerd's `cloudflare:workers` module the app uses. (The full runtime types would
// clash with Node's and the DOM's, which the rest of the app is checked against.)
declare module 'cloudflare:workers' {
	export const env: Record<string, unknown>;
}

// The worker SvelteKit's adapter generates at build time (imported by src/worker.ts).
declare module '*/_worker.js' {
	const worker: {
		fetch(request: Request, env: unknown, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response>;
	};
	export default worker;
}
