/**
 * Picks the sandbox backend. Today that is the local runtime, found through
 * LOCAL_SANDBOX_URL and LOCAL_SANDBOX_SECRET (`npm run dev` sets both).
 */
import { env } from '$env/dynamic/private';
import { createLocalBackend, localBackendConfigFrom } from '$sandbox/local/client';
import type { SandboxBackend } from './types';

let backend: SandboxBackend | undefined;

export function sandboxBackend(): SandboxBackend {
	backend ??= createLocalBackend(localBackendConfigFrom(env));
	return backend;
}
