/**
 * What the route handlers work with: one of each service, built once by app.ts.
 */
import type { Executions } from '../execution.ts';
import type { ProcessTable } from '../processes.ts';
import type { SessionRegistry } from '../sessions.ts';

export interface Services {
	/** Default working directory: the session start directory and where sessionless commands run. */
	workspace: string;
	/** The SDK version this server speaks, reported by `/api/version`. */
	version: string;
	sessions: SessionRegistry;
	executions: Executions;
	processes: ProcessTable;
}
