/**
 * Sessions: the SDK creates its default session (`sandbox-<id>`, with the sandbox's env vars) on
 * first use and treats "already exists" (409) as success — it is how a Durable Object that
 * restarted finds the container's session again.
 */
import { randomBytes } from 'node:crypto';
import { now } from '../errors.ts';
import type { Router } from '../http.ts';
import { SessionCreateBody, SessionDeleteBody, parse } from '../schemas.ts';
import type { Services } from './services.ts';

export function registerSessionRoutes(router: Router, services: Services) {
	router.add('POST', '/api/session/create', async ({ body }) => {
		const request = parse(SessionCreateBody, await body());
		const session = await services.sessions.create({
			id: request.id || `session_${Date.now()}_${randomBytes(6).toString('hex')}`,
			cwd: request.cwd || services.workspace,
			env: request.env,
			commandTimeoutMs: request.commandTimeoutMs
		});
		return {
			success: true,
			data: { id: session.id },
			// The SDK stores this to notice a container replacement; there is no placement outside Cloudflare.
			containerPlacementId: process.env.CLOUDFLARE_PLACEMENT_ID ?? null,
			timestamp: now()
		};
	});

	router.add('GET', '/api/session/list', () => ({ success: true, data: services.sessions.list(), timestamp: now() }));

	router.add('POST', '/api/session/delete', async ({ body }) => {
		const { sessionId } = parse(SessionDeleteBody, await body());
		await services.sessions.delete(sessionId);
		return { success: true, sessionId, timestamp: now() };
	});
}
