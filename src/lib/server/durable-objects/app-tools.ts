/**
 * The visitor's tools on their sandbox's app, for its coordinator (coordinator.ts): the editor's
 * files, the app's logs, a terminal and the API console. Each works only while the sandbox is ready,
 * and answers as the contract says: a value, or (for what streams) a Response.
 */
import * as v from 'valibot';
import type { LogLine } from '../../app-logs';
import { ApiCallSchema, relayCall } from '../api-console';
import { followLines, recentLines } from '../app-logs';
import type { Sandbox } from '../sandbox/types';
import { APP_DIR, liveClients, parseSourceContent, parseSourcePath, readSource, SourceFileError, writeSource, type EditableSources } from '../source-files';
import type { Template } from '../templates/catalog';
import { Terminals } from '../terminal';
import type { ReadReply, Refusal, WriteReply } from './contract';

/** A ready sandbox's app, as its coordinator lends it to a tool. */
export interface ReadyApp {
	sandbox: Sandbox;
	template: Template;
	/** What the app was given that no line of its output may show. */
	secrets: string[];
	/** The API console's bearer token, for a template with an API. */
	apiToken?: string;
	/** The visitor used the sandbox: its idle TTL starts again. */
	used(): Promise<void>;
	/** The app's files may differ from the template's now (they are saved for the visitor at the stop); counts as use. */
	edited(): Promise<void>;
	/** Whether the sandbox has stopped since it was lent. */
	stopped(): boolean;
}

export const NOT_RUNNING = { ok: false, status: 409, message: 'The sandbox is not running right now. Wait until it is ready, then try again.' } as const;

const STREAM_HEADERS = { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' };

export class AppTools {
	private readonly terminals = new Terminals();
	/** The app, if the sandbox is ready now. */
	private readonly ready: () => ReadyApp | null;

	constructor(ready: () => ReadyApp | null) {
		this.ready = ready;
	}

	readSource(path: string): Promise<ReadReply> {
		return this.withSources(`${path} could not be read from the sandbox.`, async (app, sources) => {
			return { ok: true, content: await readSource(app.sandbox, parseSourcePath(sources, path)) };
		});
	}

	writeSource(path: string, content: string): Promise<WriteReply> {
		return this.withSources('The sandbox did not take the file. Try saving again.', async (app, sources) => {
			await writeSource(app.sandbox, parseSourcePath(sources, path), parseSourceContent(content));
			await app.edited();
			return { ok: true, hotReloaded: (await liveClients(app.sandbox, app.template)) > 0 };
		});
	}

	/** The app's last lines of output; null while the sandbox is not ready. */
	async recentLogs(): Promise<LogLine[] | null> {
		const app = this.ready();
		if (!app) return null;
		return recentLines(app.sandbox, app.secrets).catch((error) => {
			console.warn('[coordinator] reading the logs failed', error);
			return [];
		});
	}

	/** The app's logs as they come (app-logs.ts): not counted as use, like an open status socket. */
	followLogs(): Response {
		const app = this.ready();
		if (!app) return Response.json({ message: NOT_RUNNING.message }, { status: 409 });
		return new Response(followLines(app.sandbox, app.secrets, app.stopped), { headers: STREAM_HEADERS });
	}

	/**
	 * A shell in the sandbox's app directory, in a session of its own that ends when either side
	 * closes. Keystrokes count as use; an open terminal alone does not, like an open status socket.
	 */
	async openTerminal(query: URLSearchParams): Promise<Response> {
		const app = this.ready();
		if (!app) return new Response(NOT_RUNNING.message, { status: 409 });
		return this.terminals.open(app.sandbox, query, APP_DIR, { onInput: () => void app.edited(), stopped: app.stopped });
	}

	/** The sandbox stopped: its shells went with its container. */
	closeTerminals() {
		this.terminals.closeAll();
	}

	/** Makes the console's call inside the sandbox, with its token (api-console.ts); the answer streams as parts. */
	async callApi(request: Request): Promise<Response> {
		const app = this.ready();
		if (!app) return Response.json({ message: NOT_RUNNING.message }, { status: 409 });
		if (!app.template.api) return Response.json({ message: 'This sandbox has no API console.' }, { status: 404 });
		const call = v.safeParse(ApiCallSchema, await request.json().catch(() => null));
		if (!call.success) return Response.json({ message: call.issues[0].message }, { status: 400 });
		await app.used();
		const parts = relayCall({ sandbox: app.sandbox, port: app.template.port, token: app.apiToken, call: call.output });
		return new Response(parts, { headers: STREAM_HEADERS });
	}

	/**
	 * Runs an editor operation, with the paths and content checked here too (the routes check them
	 * first; a path ends up in a shell command). One that a stop overtakes is left to finish: the stop
	 * may be backing up the app's files, and a container its calls wake after the stop is swept away
	 * by the coordinator's alarm.
	 */
	private async withSources<T extends { ok: true }>(otherwise: string, operation: (app: ReadyApp, sources: EditableSources) => Promise<T>): Promise<T | Refusal> {
		const app = this.ready();
		if (!app?.template.editor) return NOT_RUNNING;
		await app.used();
		try {
			return await operation(app, app.template.editor);
		} catch (error) {
			if (error instanceof SourceFileError) return { ok: false, status: error.status, message: error.message };
			console.error('[coordinator] file operation failed', error);
			return { ok: false, status: 502, message: otherwise };
		}
	}
}
