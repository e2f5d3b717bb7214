/**
 * Messages between the runtime and the agent inside each sandbox, one JSON
 * object per line over the agent's stdin/stdout. The runtime validates
 * everything that comes from outside before it reaches the agent, so the agent
 * trusts these messages.
 */
import type { ExecOptions, StartProcessOptions, WaitForPortOptions } from '../../src/lib/server/sandbox/types.ts';

export interface AgentOperations {
	exec: { command: string } & ExecOptions;
	writeFile: { path: string; content: string; encoding: 'utf-8' | 'base64' };
	readFile: { path: string; encoding: 'utf-8' | 'base64' };
	mkdir: { path: string; recursive: boolean };
	startProcess: { command: string; processId: string } & Omit<StartProcessOptions, 'processId'>;
	getProcess: { processId: string };
	listProcesses: Record<string, never>;
	killProcess: { processId: string; signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT' };
	getProcessLogs: { processId: string };
	waitForPort: { port: number; processId?: string } & WaitForPortOptions;
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

/** The first line the agent writes, once it can take requests. */
export const AGENT_READY = 'sandbox-agent-ready';

/** Where the sandbox's own writable storage lives; file operations stay inside these. */
export const WRITABLE_ROOTS = ['/workspace', '/tmp'];
