/**
 * The control server's parts, wired together: sessions, processes, terminals, and the routes over them
 * (backups among them).
 */
import { Executions } from './execution.ts';
import { Router } from './http.ts';
import { ProcessTable } from './processes.ts';
import { registerBackupRoutes } from './routes/backups.ts';
import { registerCommandRoutes } from './routes/commands.ts';
import { registerFileRoutes } from './routes/files.ts';
import { registerMiscRoutes } from './routes/misc.ts';
import { registerProcessRoutes } from './routes/processes.ts';
import { registerSessionRoutes } from './routes/sessions.ts';
import type { Services } from './routes/services.ts';
import { SessionRegistry } from './sessions.ts';
import { Terminals } from './terminals.ts';

export interface AppConfig {
	workspace: string;
	version: string;
	/** The default timeout of every session's commands; none when undefined. */
	commandTimeoutMs: number | undefined;
}

export function createApp(config: AppConfig) {
	const processes = new ProcessTable();
	const sessions: SessionRegistry = new SessionRegistry({
		workspace: config.workspace,
		defaultTimeoutMs: config.commandTimeoutMs,
		onDelete: async (sessionId) => {
			await Promise.all([processes.killSession(sessionId), terminals.close(sessionId)]);
		}
	});
	const terminals = new Terminals(sessions);
	const services: Services = {
		workspace: config.workspace,
		version: config.version,
		sessions,
		executions: new Executions(sessions, config.workspace),
		processes
	};
	const router = new Router();
	registerSessionRoutes(router, services);
	registerCommandRoutes(router, services);
	registerFileRoutes(router, services);
	registerProcessRoutes(router, services);
	registerBackupRoutes(router, services);
	registerMiscRoutes(router, services);

	return {
		router,
		terminals,
		/** Ends every process and session shell: nothing the server started outlives it. */
		async shutdown() {
			processes.killAllNow();
			await terminals.closeAll();
			await sessions.destroyAll();
		},
		/** The same, synchronously, for an exit that cannot wait. */
		killEverythingNow() {
			processes.killAllNow();
			terminals.killAllNow();
			sessions.killAllNow();
		}
	};
}
