/**
 * Picks the sandbox backend:
 * - LOCAL_SANDBOX_URL set (`npm run dev`, `npm run preview` without Docker, the tests): the local
 *   bubblewrap runtime, reached over HTTP;
 * - otherwise, inside workerd: @cloudflare/sandbox with the `Sandbox` Durable Object binding.
 * The SDK is imported only on the second path: it needs `cloudflare:workers`, which Node lacks.
 */
import { env } from '$env/dynamic/private';
import { createCloudflareBackend, type CloudflareEnv } from './cloudflare';
import { createLocalBackend, localBackendConfigFrom } from './local';
import { SandboxError, type SandboxBackend } from './types';

let backend: Promise<SandboxBackend> | undefined;

export function sandboxBackend(): Promise<SandboxBackend> {
	backend ??= choose().catch((error) => {
		backend = undefined; // let a later request try again
		throw error;
	});
	return backend;
}

async function choose(): Promise<SandboxBackend> {
	if (env.LOCAL_SANDBOX_URL) return createLocalBackend(localBackendConfigFrom(env));
	let worker: { env: Partial<CloudflareEnv> };
	let sdk: typeof import('@cloudflare/sandbox');
	try {
		[worker, sdk] = await Promise.all([import('cloudflare:workers'), import('@cloudflare/sandbox')]);
	} catch (cause) {
		throw new SandboxError(
			'BACKEND_UNAVAILABLE',
			'No sandbox backend: LOCAL_SANDBOX_URL is not set and this is not a Cloudflare worker. ' +
				'Start the app with `npm run dev`, which starts the local sandbox runtime.',
			{ cause }
		);
	}
	if (!worker.env.Sandbox) {
		throw new SandboxError('BACKEND_UNAVAILABLE', 'The worker has no `Sandbox` Durable Object binding (see wrangler.jsonc)');
	}
	return createCloudflareBackend(worker.env as CloudflareEnv, sdk);
}
