/**
 * Health and identity: `/api/ping`, `/api/version` (the SDK logs a warning unless it matches its
 * own version) and `/api/commands` (the executables on the PATH).
 */
import { readdir } from 'node:fs/promises';
import { now } from '../errors.ts';
import type { Router } from '../http.ts';
import type { Services } from './services.ts';

export function registerMiscRoutes(router: Router, services: Services) {
	router.add('GET', '/', ({ res }) => {
		res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('sandbox control server\n');
	});

	router.add('GET', '/api/ping', () => ({ success: true, status: 'healthy', timestamp: now() }));

	router.add('GET', '/api/version', () => ({ success: true, version: services.version, timestamp: now() }));

	router.add('GET', '/api/commands', async () => {
		const availableCommands = await commandsOnPath(process.env.PATH ?? '');
		return { success: true, availableCommands, count: availableCommands.length, timestamp: now() };
	});
}

async function commandsOnPath(path: string): Promise<string[]> {
	const names = new Set<string>();
	for (const dir of path.split(':').filter(Boolean)) {
		const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
		for (const entry of entries) if (entry.isFile() || entry.isSymbolicLink()) names.add(entry.name);
	}
	return [...names].sort();
}
