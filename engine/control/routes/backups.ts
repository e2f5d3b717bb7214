/**
 * Backups: `/api/backup/create` (see backups.ts), in the session the request names.
 */
import { createArchive, parseCreateBackup } from '../backups.ts';
import type { Router } from '../http.ts';
import type { Services } from './services.ts';

export function registerBackupRoutes(router: Router, services: Services) {
	router.add('POST', '/api/backup/create', async ({ body }) => {
		const request = parseCreateBackup(await body());
		const sizeBytes = await createArchive(services.executions.resolve(request.sessionId), request);
		return { success: true, sizeBytes, archivePath: request.archivePath };
	});
}
