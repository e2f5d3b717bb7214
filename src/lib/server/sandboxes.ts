/**
 * The app's one manager, configured from the environment:
 *   SANDBOX_TTL_SECONDS  idle time before a visitor's sandbox is destroyed (default 300)
 */
import type { RequestEvent } from '@sveltejs/kit';
import { env } from '$env/dynamic/private';
import type { TemplateId } from '$lib/sandbox-state';
import * as v from 'valibot';
import { SandboxManager } from './manager';
import { routePreview } from './preview-route';
import { sandboxBackend } from './sandbox';
import { parsePreviewHost } from './sandbox/rules';
import { templates } from './templates';
import { templateOf } from './visitor';

const TtlSeconds = v.pipe(v.optional(v.string(), '300'), v.transform(Number), v.integer(), v.minValue(5), v.maxValue(86_400));

let manager: SandboxManager | undefined;

export function sandboxManager(): SandboxManager {
	if (!manager) {
		const ttlSeconds = v.parse(TtlSeconds, env.SANDBOX_TTL_SECONDS);
		manager = new SandboxManager({
			backend: sandboxBackend,
			templates,
			ttlMs: ttlSeconds * 1000,
			// The backend's own idle stop, a little after the TTL: it only matters if our timer is lost.
			sleepAfter: ttlSeconds + 60,
			log: (message, error) => (error ? console.error(`[sandboxes] ${message}`, error) : console.log(`[sandboxes] ${message}`))
		});
	}
	return manager;
}

/** Starts (or returns) the sandbox for a request: preview URLs hang off the request's own host. */
export function startSandbox(event: Pick<RequestEvent, 'url' | 'platform'>, id: string, template: TemplateId) {
	const ctx = event.platform?.ctx;
	return sandboxManager().start(id, { template, hostname: event.url.host, waitUntil: ctx && ((p) => ctx.waitUntil(p)) });
}

/** Boots a sandbox again after its preview answered 410 (see preview-route.ts). */
export async function reviveSandbox(event: Pick<RequestEvent, 'platform'>, id: string, appHost: string) {
	const template = templateOf(id);
	if (!template) return;
	const ctx = event.platform?.ctx;
	sandboxManager().revive(id, { template, hostname: appHost, waitUntil: ctx && ((p) => ctx.waitUntil(p)) });
}

/**
 * Answers a request for a preview host from its sandbox (see preview-route.ts), counting it as
 * activity. Used by hooks.server.ts and, in `vite dev`, by the dev server plugin.
 */
export function answerPreview(request: Request, platform?: App.Platform): Promise<Response> {
	const host = new URL(request.url).host;
	const route = parsePreviewHost(host);
	if (route) sandboxManager().touchPreview(route.sandboxId, host);
	return routePreview(request, {
		proxy: async (preview) => (await sandboxBackend()).proxyPreview(preview),
		revive: async (id, appHost) => reviveSandbox({ platform }, id, appHost)
	});
}
