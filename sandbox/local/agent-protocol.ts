/**
 * Messages between the runtime and the agent inside each sandbox, one JSON
 * object per line over the agent's stdin/stdout. The runtime validates
 * everything that comes from outside before it reaches the agent, so the agent
 * trusts these messages.
 */

export interface AgentOperations {
	/** `timeout` in milliseconds. */
	exec: { command: string; cwd?: string; env?: Record<string, string>; timeout?: number };
	writeFile: { path: string; content: string; encoding: 'utf-8' | 'base64' };
	readFile: { path: string; encoding: 'utf-8' | 'base64' };
	mkdir: { path: string; recursive: boolean };
	startProcess: { command: string; processId: string; cwd?: string; env?: Record<string, string> };
	getProcess: { processId: string };
	listProcesses: Record<string, never>;
	killProcess: { processId: string; signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT' };
	getProcessLogs: { processId: string };
	/** `timeout` and `interval` in milliseconds; `status` defaults to 200-399. */
	waitForPort: {
		port: number;
		processId?: string;
		mode?: 'http' | 'tcp';
		path?: string;
		status?: number | { min: number; max: number };
		timeout?: number;
		interval?: number;
	};
}

export type AgentOperation = keyof AgentOperations;

export interface AgentRequest<Op extends AgentOperation = AgentOperation> {
	id: number;
	op: Op;
	args: AgentOperations[Op];
}

export type AgentResponse =
	| { id: number; ok: true; result: unknown }
	| { id: number; ok: false; error: { code: string; message: string } };

/**
 * What the agent reports for a background process, in the SDK's `ProcessInfo` shape: the control
 * API hands it on to the app unchanged.
 */
export interface ProcessInfo {
	id: string;
	pid: number | null;
	command: string;
	status: 'running' | 'completed' | 'failed' | 'killed' | 'error';
	exitCode: number | null;
	startTime: string;
	endTime: string | null;
}

/** The first line the agent writes, once it can take requests. */
export const AGENT_READY = 'sandbox-agent-ready';

/** Where the sandbox's own writable storage lives; file operations stay inside these. */
export const WRITABLE_ROOTS = ['/workspace', '/tmp'];
