/**
 * The container control server (engine/control/) as the SDK's Durable Object meets it: a
 * real child process on the host, driven over real HTTP and SSE, with the request and response
 * shapes of @cloudflare/sandbox 0.12.10's clients. What is checked is what an SDK user would
 * notice: sessions that keep their shell, timeouts that do (or do not) kill, processes, port
 * watches, log streams, files and the protocol's errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmdlineOf, liveProcesses } from '../../engine/proc.ts';
import { freePort } from '../helpers/ports.ts';

const SERVER = join(import.meta.dirname, '../../engine/control/server.ts');
const SESSION = 'sandbox-protocol-test';
const SESSIONLESS = '__DISABLE_SESSION__';

let server: ChildProcess;
let base: string;
let workspace: string;
let serverStderr = '';

beforeAll(async () => {
	workspace = mkdtempSync(join(process.env.SANDBOX_TEST_DIR ?? tmpdir(), 'control-server-'));
	const port = await freePort();
	base = `http://127.0.0.1:${port}`;
	server = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', SERVER], {
		env: { ...process.env, SANDBOX_CONTROL_PORT: String(port), SANDBOX_CONTROL_WORKSPACE: workspace, HOME: workspace },
		stdio: ['ignore', 'pipe', 'pipe']
	});
	server.stderr!.on('data', (chunk) => (serverStderr += chunk));
	const firstLine = await new Promise<string>((resolve, reject) => {
		createInterface({ input: server.stdout! }).once('line', resolve);
		server.once('exit', (code) => reject(new Error(`control server exited (${code}): ${serverStderr}`)));
	});
	expect(firstLine).toBe('control server ready');
	expect((await post('/api/session/create', { id: SESSION, env: { GREETING: 'hello' }, cwd: workspace })).status).toBe(200);
});

afterAll(async () => {
	if (server && server.exitCode === null) {
		const exited = new Promise((resolve) => server.once('exit', resolve));
		server.kill('SIGTERM');
		await exited;
	}
	if (workspace) rmSync(workspace, { recursive: true, force: true });
});

describe('identity and errors', () => {
	it('answers version (the SDK version, so no mismatch warning) and ping', async () => {
		expect((await get('/api/version')).body).toMatchObject({ success: true, version: '0.12.10' });
		expect((await get('/api/ping')).body).toMatchObject({ success: true, status: 'healthy' });
	});

	it('answers an unknown endpoint with a JSON 404 in the protocol error shape', async () => {
		const { status, body } = await post('/api/does-not-exist', {});
		expect(status).toBe(404);
		expect(body).toMatchObject({ code: 'UNKNOWN_ERROR', httpStatus: 404, context: {} });
		expect(typeof body.message).toBe('string');
		expect(Date.parse(body.timestamp)).not.toBeNaN();
	});

	it('refuses malformed bodies with 400 VALIDATION_FAILED', async () => {
		const wrongType = await post('/api/execute', { command: 42, sessionId: SESSION });
		expect(wrongType.status).toBe(400);
		expect(wrongType.body).toMatchObject({ code: 'VALIDATION_FAILED', httpStatus: 400 });
		expect(wrongType.body.context.validationErrors[0].field).toBe('command');

		const notJson = await fetch(`${base}/api/read`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
		expect(notJson.status).toBe(400);
		expect(await notJson.json()).toMatchObject({ code: 'VALIDATION_FAILED' });

		expect((await post('/api/session/delete', {})).body).toMatchObject({ code: 'VALIDATION_FAILED', message: 'sessionId is required' });
	});

	it('reports an existing session as SESSION_ALREADY_EXISTS (409), which the SDK takes for success', async () => {
		const { status, body } = await post('/api/session/create', { id: SESSION });
		expect(status).toBe(409);
		expect(body).toMatchObject({ code: 'SESSION_ALREADY_EXISTS', context: { sessionId: SESSION, containerPlacementId: null } });
	});
});

describe('exec in a session', () => {
	it('keeps cd and exported variables between commands; per-call cwd and env last one command', async () => {
		await exec('mkdir -p app && cd app && export COUNT=1');
		expect(await exec('pwd; echo "$COUNT $GREETING"')).toMatchObject({ stdout: `${workspace}/app\n1 hello`, exitCode: 0, success: true });
		expect((await exec('pwd; echo "$ONCE"', { cwd: '/', env: { ONCE: 'yes' } })).stdout).toBe('/\nyes');
		expect((await exec('pwd; echo "${ONCE-unset}"')).stdout).toBe(`${workspace}/app\nunset`);
		await exec('cd ..');
	});

	it('returns the result shape the SDK maps (output without its final newline, like the real sessions)', async () => {
		// `(exit 3)`: a bare `exit` would end the session's shell, as on the real server.
		const result = await exec('echo out; echo err >&2; (exit 3)');
		expect(result).toMatchObject({ success: false, exitCode: 3, stdout: 'out', stderr: 'err', command: 'echo out; echo err >&2; (exit 3)', sessionId: SESSION });
		expect(typeof result.duration).toBe('number');
		expect(Date.parse(result.timestamp)).not.toBeNaN();
	});

	it('rejects a command at its timeout without killing it, and the next command waits for it', async () => {
		const timedOut = await post('/api/execute', { command: 'sleep 0.8; echo finished > slow.txt', sessionId: SESSION, timeoutMs: 200 });
		expect(timedOut.status).toBe(500);
		expect(timedOut.body).toMatchObject({ code: 'COMMAND_EXECUTION_ERROR', context: { stderr: 'Command timeout after 200ms' } });
		expect(timedOut.body.message).toContain('Command timeout after 200ms');

		const started = Date.now();
		expect((await exec('cat slow.txt')).stdout).toBe('finished');
		expect(Date.now() - started).toBeGreaterThan(300);
	});

	it('runs the commands of one session one at a time, in order', async () => {
		const first = exec('sleep 0.4; echo one >> order.txt');
		const second = exec('echo two >> order.txt');
		await Promise.all([first, second]);
		expect(readFileSync(join(workspace, 'order.txt'), 'utf8')).toBe('one\ntwo\n');
	});

	it('reports a shell that exited as SESSION_TERMINATED (410), then starts a fresh one', async () => {
		await post('/api/session/create', { id: 'short-lived', cwd: workspace });
		await exec('export MARK=1', { sessionId: 'short-lived' });
		const gone = await post('/api/execute', { command: 'exit 7', sessionId: 'short-lived' });
		expect(gone.status).toBe(410);
		expect(gone.body).toMatchObject({ code: 'SESSION_TERMINATED', context: { sessionId: 'short-lived', exitCode: 7 } });
		expect((await exec('echo "${MARK-fresh}"', { sessionId: 'short-lived' })).stdout).toBe('fresh');
	});
});

describe('sessionless exec (enableDefaultSession: false)', () => {
	it('runs each command in its own process in the workspace, and kills the whole group at its timeout', async () => {
		const result = await post('/api/execute', { command: 'cd /; export X=1', sessionId: SESSIONLESS });
		expect(result.body).toMatchObject({ success: true, exitCode: 0 });
		expect((await exec('pwd; echo "${X-none}"', { sessionId: SESSIONLESS })).stdout).toBe(`${workspace}\nnone\n`);

		const timedOut = await post('/api/execute', { command: '(sleep 0.6; touch late.txt) & sleep 5', sessionId: SESSIONLESS, timeoutMs: 200 });
		expect(timedOut.status).toBe(200);
		expect(timedOut.body).toMatchObject({ success: false, exitCode: 124 });
		expect(timedOut.body.stderr).toContain('Command timed out after 200ms');
		await sleep(800);
		expect(existsSync(join(workspace, 'late.txt'))).toBe(false);
	});
});

describe('processes', () => {
	it('accepts a second start with a taken ID: the new record replaces the first and fails on the busy port', async () => {
		const port = await freePort();
		writeFileSync(join(workspace, 'server.cjs'), SERVER_SCRIPT);
		const command = `node ${join(workspace, 'server.cjs')} ${port}`;
		const first = await post('/api/process/start', { command, processId: 'web', sessionId: SESSION });
		expect(first.body).toMatchObject({ success: true, processId: 'web', command });
		expect(first.body.pid).toBeGreaterThan(0);
		expect(await watchPort({ port, mode: 'http', path: '/', statusMin: 200, statusMax: 399, processId: 'web', interval: 100 })).toEqual([
			{ type: 'watching', port },
			{ type: 'ready', port, statusCode: 200 }
		]);

		const second = await post('/api/process/start', { command, processId: 'web', sessionId: SESSION });
		expect(second.status).toBe(200);
		expect(second.body.pid).not.toBe(first.body.pid);
		const failed = await until(async () => (await get('/api/process/web')).body.process, (info) => info.status !== 'running');
		expect(failed).toMatchObject({ id: 'web', status: 'failed', exitCode: 1, pid: second.body.pid });
		expect((await get('/api/process/web/logs')).body.stderr).toContain('EADDRINUSE');
		expect(await watchPort({ port, mode: 'http', processId: 'web', interval: 100 })).toEqual([
			{ type: 'watching', port },
			{ type: 'process_exited', port, exitCode: 1 }
		]);
		// The first server still answers, though no ID reaches it any more.
		expect(await watchPort({ port, mode: 'tcp' })).toEqual([{ type: 'watching', port }, { type: 'ready', port }]);
	});

	it('starts where the session stands and streams its logs until it exits', async () => {
		await exec('cd app && export FROM_SESSION=yes');
		const start = await post('/api/process/start', {
			command: 'echo "first $PWD $FROM_SESSION"; sleep 0.3; echo second >&2; exit 4',
			processId: 'chatty',
			sessionId: SESSION
		});
		expect(start.status).toBe(200);
		const events = await sse('GET', '/api/process/chatty/stream');
		expect(events[0]).toMatchObject({ type: 'process_info', processId: 'chatty', status: 'running' });
		expect(events.filter((e) => e.type === 'stdout').map((e) => e.data).join('')).toBe(`first ${workspace}/app yes\n`);
		expect(events.filter((e) => e.type === 'stderr').map((e) => e.data).join('')).toBe('second\n');
		expect(events.at(-1)).toMatchObject({ type: 'exit', processId: 'chatty', exitCode: 4, data: 'Process failed with exit code 4' });

		expect((await get('/api/process/chatty')).body.process).toMatchObject({ status: 'failed', exitCode: 4, command: expect.any(String) });
		expect((await get('/api/process/chatty/logs')).body).toMatchObject({ processId: 'chatty', stdout: `first ${workspace}/app yes\n`, stderr: 'second\n' });
		expect((await get('/api/process/list')).body.processes.map((p: { id: string }) => p.id)).toContain('chatty');
		await exec('cd ..');
	});

	it('kills the whole process group, and knows neither unknown nor finished processes', async () => {
		const start = await post('/api/process/start', { command: 'sleep 30 & sleep 30', processId: 'sleeper', sessionId: SESSION });
		const pid: number = start.body.pid;
		expect((await del('/api/process/sleeper')).body).toMatchObject({ success: true, processId: 'sleeper' });
		expect((await get('/api/process/sleeper')).body.process).toMatchObject({ status: 'killed' });
		expect(liveMembersOfGroup(pid)).toEqual([]);

		expect((await del('/api/process/sleeper')).body).toMatchObject({ code: 'COMMAND_NOT_FOUND', httpStatus: 404 });
		const unknown = await get('/api/process/nobody');
		expect(unknown.status).toBe(404);
		expect(unknown.body).toMatchObject({ code: 'PROCESS_NOT_FOUND', message: 'Process nobody not found' });
	});

	it("streams a process's output a line per event, as the real server does: a line cut short by a pause, or the last, gets its newline", async () => {
		const events = await sse('POST', '/api/execute/stream', { command: "printf 'a\\nb\\nc'; sleep 0.5; printf 'd'", sessionId: SESSION });
		expect(events.filter((e) => e.type === 'stdout').map((e) => e.data)).toEqual(['a\n', 'b\n', 'c\n', 'd\n']);
		const started = await post('/api/process/start', { command: "printf 'one\\ntwo'", processId: 'unended', sessionId: SESSION });
		expect(started.status).toBe(200);
		await until(async () => (await get('/api/process/unended')).body.process, (info) => info.status !== 'running');
		expect((await get('/api/process/unended/logs')).body.stdout).toBe('one\ntwo\n');
	});

	it('streams an exec as start, output and complete events', async () => {
		const events = await sse('POST', '/api/execute/stream', { command: 'echo streamed; exit 2', sessionId: SESSION });
		expect(events.map((e) => e.type)).toEqual(['start', 'stdout', 'complete']);
		expect(events[1].data).toBe('streamed\n');
		expect(events[2]).toMatchObject({ exitCode: 2 });
	});
});

describe('files', () => {
	it('writes (creating parents) and reads back text, relative to the session directory', async () => {
		expect((await post('/api/write', { path: 'notes/today.txt', content: 'héllo\n', sessionId: SESSION })).body).toMatchObject({ success: true, path: 'notes/today.txt' });
		expect(readFileSync(join(workspace, 'notes/today.txt'), 'utf8')).toBe('héllo\n');
		const read = await post('/api/read', { path: `${workspace}/notes/today.txt`, encoding: 'utf-8', sessionId: SESSION });
		expect(read.body).toMatchObject({ success: true, content: 'héllo\n', encoding: 'utf-8', isBinary: false, size: 7 });
	});

	it('types a file without an encoding by extension, sniffing unknown ones, and base64s binaries', async () => {
		writeFileSync(join(workspace, 'App.vue'), '<template>\n  <p>{{ msg }}</p>\n</template>\n');
		const vue = await post('/api/read', { path: 'App.vue', sessionId: SESSION });
		expect(vue.body).toMatchObject({ encoding: 'utf-8', isBinary: false, content: '<template>\n  <p>{{ msg }}</p>\n</template>\n' });
		expect(vue.body.mimeType).toMatch(/^text\//);

		const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
		await post('/api/write', { path: 'pixel.png', content: png.toString('base64'), encoding: 'base64', sessionId: SESSION });
		expect((await post('/api/read', { path: 'pixel.png', sessionId: SESSION })).body).toMatchObject({
			encoding: 'base64',
			isBinary: true,
			mimeType: 'image/png',
			content: png.toString('base64')
		});
		expect((await post('/api/read', { path: 'pixel.png', encoding: 'base64', sessionId: SESSION })).body.content).toBe(png.toString('base64'));
	});

	it('creates, lists, checks, renames, moves and deletes', async () => {
		const flat = await post('/api/mkdir', { path: 'a/b', sessionId: SESSION });
		expect(flat.status).toBe(500);
		expect(flat.body).toMatchObject({ code: 'FILESYSTEM_ERROR' });
		expect((await post('/api/mkdir', { path: 'a/b', recursive: true, sessionId: SESSION })).body).toMatchObject({ success: true, recursive: true });
		expect((await post('/api/exists', { path: 'a/b', sessionId: SESSION })).body).toMatchObject({ exists: true });
		expect((await post('/api/exists', { path: 'a/zzz', sessionId: SESSION })).body).toMatchObject({ exists: false });

		await post('/api/write', { path: 'a/one.txt', content: '1', sessionId: SESSION });
		const listing = await post('/api/list-files', { path: 'a', sessionId: SESSION, options: {} });
		expect(listing.body.count).toBe(2);
		expect(listing.body.files).toEqual(
			expect.arrayContaining([
				expect.objectContaining({ name: 'one.txt', relativePath: 'one.txt', type: 'file', size: 1, mode: 'rw-r--r--' }),
				expect.objectContaining({ name: 'b', type: 'directory', permissions: { readable: true, writable: true, executable: true } })
			])
		);

		expect((await post('/api/rename', { oldPath: 'a/one.txt', newPath: 'a/two.txt', sessionId: SESSION })).body).toMatchObject({ success: true, newPath: 'a/two.txt' });
		expect((await post('/api/move', { sourcePath: 'a/two.txt', destinationPath: 'a/b/three.txt', sessionId: SESSION })).body).toMatchObject({ success: true });
		expect(readFileSync(join(workspace, 'a/b/three.txt'), 'utf8')).toBe('1');
		expect((await post('/api/delete', { path: 'a/b/three.txt', sessionId: SESSION })).body).toMatchObject({ success: true });
		expect(existsSync(join(workspace, 'a/b/three.txt'))).toBe(false);
	});

	it('answers with the protocol error codes and statuses', async () => {
		const expectError = async (path: string, body: object, status: number, code: string) => {
			const answer = await post(path, { sessionId: SESSION, ...body });
			expect({ status: answer.status, code: answer.body.code, httpStatus: answer.body.httpStatus }).toEqual({ status, code, httpStatus: status });
		};
		await expectError('/api/read', { path: 'missing.txt' }, 404, 'FILE_NOT_FOUND');
		// A directory is no file to read, and no file to delete (as the real server says).
		await expectError('/api/read', { path: 'a' }, 404, 'FILE_NOT_FOUND');
		await expectError('/api/read', { path: '' }, 400, 'VALIDATION_FAILED');
		await expectError('/api/read', {}, 400, 'VALIDATION_FAILED');
		await expectError('/api/delete', { path: 'a' }, 400, 'IS_DIRECTORY');
		expect((await post('/api/delete', { path: 'a', sessionId: SESSION })).body.message).toBe("Cannot delete directory with deleteFile() at 'a'. Use exec('rm -rf <path>') instead.");
		await expectError('/api/delete', { path: 'missing.txt' }, 404, 'FILE_NOT_FOUND');
		await expectError('/api/list-files', { path: 'missing-dir' }, 404, 'FILE_NOT_FOUND');
		await expectError('/api/list-files', { path: 'App.vue' }, 400, 'NOT_DIRECTORY');
		await expectError('/api/rename', { oldPath: 'missing.txt', newPath: 'x.txt' }, 404, 'FILE_NOT_FOUND');
		await expectError('/api/write', { path: 'x.bin', content: 'not base64!', encoding: 'base64' }, 400, 'VALIDATION_FAILED');
	});
});

describe('backups', () => {
	// (Archives themselves are made in a container: see tests/conformance, createBackup.)
	it('refuses, before running anything, an archive outside /var/backups and a malformed request', async () => {
		const refused = async (body: object) => {
			const { status, body: answer } = await post('/api/backup/create', { dir: workspace, archivePath: '/var/backups/x.sqsh', sessionId: SESSION, ...body });
			expect({ status, code: answer.code }).toEqual({ status: 400, code: 'INVALID_BACKUP_CONFIG' });
			return answer.message;
		};
		expect(await refused({ archivePath: '/etc/backup.sqsh' })).toBe('Invalid archivePath: must use designated backup directory');
		expect(await refused({ archivePath: '/var/backups/../x.sqsh' })).toBe('archivePath must not contain path traversal sequences');
		expect(await refused({ dir: 'relative' })).toBe('dir must be an absolute path');
		expect(await refused({ compression: { format: 'brotli' } })).toBe('compression.format must be one of: gzip, lz4, zstd');
		expect(await refused({ excludes: 'node_modules' })).toBe('excludes must be an array of strings');
	});
});

describe('terminals (/ws/pty)', () => {
	it('runs a shell in the session\'s directory at the asked size, and answers keystrokes', async () => {
		const terminal = await openTerminal('term-basics', { cols: '100', rows: '30' });
		terminal.type('stty size; echo $((6*7)); pwd; echo "$GREETING_TERM"\n');
		await terminal.sees(/30 100\r\n42\r\n/);
		await terminal.sees(new RegExp(`${workspace}\r\n`));
		terminal.socket.close();
	});

	it('answers an upgrade whose target makes no URL as an ordinary request, and lives on', async () => {
		const { port } = new URL(base);
		const answer = await new Promise<string>((resolve, reject) => {
			const socket = connect(Number(port), '127.0.0.1', () => {
				socket.write(`GET http://[ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
			});
			let text = '';
			socket.on('data', (chunk) => {
				text += chunk;
				if (text.includes('\r\n\r\n')) socket.destroy();
			});
			socket.on('close', () => resolve(text));
			socket.on('error', reject);
		});
		expect(answer).toMatch(/^HTTP\/1\.1 [45]\d\d /);
		expect((await get('/api/ping')).status).toBe(200);
	});

	it('takes the session\'s working directory and variables as they stand', async () => {
		await exec('mkdir -p sub && cd sub && export FROM_SESSION=yes', { sessionId: 'term-state' });
		const terminal = await openTerminal('term-state');
		terminal.type('echo "$PWD:$FROM_SESSION:$TERM"\n');
		await terminal.sees(`${join(workspace, 'sub')}:yes:xterm-256color`);
		terminal.socket.close();
	});

	it('resizes: the shell sees the new size, before the keystrokes that followed', async () => {
		const terminal = await openTerminal('term-resize');
		terminal.socket.send(JSON.stringify({ type: 'resize', cols: 132, rows: 43 }));
		terminal.type('stty size\n');
		await terminal.sees('43 132');
		terminal.socket.close();
	});

	it('answers a bad control message with an error and keeps the terminal', async () => {
		const terminal = await openTerminal('term-control');
		terminal.socket.send(JSON.stringify({ type: 'resize', cols: 0, rows: 24 }));
		terminal.socket.send('not json');
		await until(async () => terminal.messages.length, (count) => count >= 3);
		expect(terminal.messages.slice(1).map((message) => message.type)).toEqual(['error', 'error']);
		expect(terminal.messages[1].message).toMatch(/cols and rows must be positive/);
		terminal.type('echo still-here\n');
		await terminal.sees('still-here\r\n');
		terminal.socket.close();
	});

	it('keeps the shell when the socket closes, and replays its screen to the next one', async () => {
		const first = await openTerminal('term-replay');
		first.type('export KEPT=$((40+2)); echo "was $KEPT"\n');
		await first.sees('was 42');
		first.socket.close();
		const second = await openTerminal('term-replay');
		expect(second.output()).toContain('was 42');
		second.type('echo "still $KEPT"\n');
		await second.sees('still 42');
		second.socket.close();
	});

	it('tells the socket how the shell exited, and starts a new shell on the next connection', async () => {
		const terminal = await openTerminal('term-exit');
		terminal.type('exit 5\n');
		const closed = await terminal.closed;
		expect(terminal.messages.at(-1)).toEqual({ type: 'exit', code: 5 });
		expect(closed).toBe(1000);
		const next = await openTerminal('term-exit');
		next.type('echo "fresh $((1+1))"\n');
		await next.sees('fresh 2');
		next.socket.close();
	});

	it('ends the shell and what it started when the session is deleted', async () => {
		const terminal = await openTerminal('term-delete');
		terminal.type('sleep 31337 & sleep 31338\n');
		await until(async () => sleepers().length, (count) => count === 2);
		expect(sleepers()).toHaveLength(2);
		expect((await post('/api/session/delete', { sessionId: 'term-delete' })).status).toBe(200);
		expect(await terminal.closed).toBe(1000);
		expect(await until(async () => sleepers(), (left) => left.length === 0)).toEqual([]);
	});

	it('refuses a connection without a session or with a shell that is not a plain absolute path', async () => {
		const port = new URL(base).port;
		for (const [query, reason] of [
			['', 'sessionId query parameter required'],
			['sessionId=x&shell=bash;id', 'shell must be an absolute path'],
			['sessionId=x&cols=-3', 'cols and rows must be positive']
		]) {
			const refused = await new Promise<{ status?: number; body: string }>((resolve) => {
				const socket = new WebSocket(`ws://127.0.0.1:${port}/ws/pty?${query}`);
				socket.on('unexpected-response', (_, response) => {
					let body = '';
					response.on('data', (chunk) => (body += chunk)).on('end', () => resolve({ status: response.statusCode, body }));
				});
			});
			expect(refused).toEqual({ status: 400, body: expect.stringContaining(reason) });
		}
	});
});

const SERVER_SCRIPT = `
const port = Number(process.argv[2]);
require('node:http').createServer((req, res) => res.end('ok')).listen(port, '0.0.0.0', () => console.log('listening on ' + port));
`;

async function exec(command: string, options: { sessionId?: string; cwd?: string; env?: Record<string, string> } = {}) {
	const { status, body } = await post('/api/execute', { command, sessionId: SESSION, ...options });
	if (status !== 200) throw new Error(`exec ${command}: ${status} ${JSON.stringify(body)}`);
	return body;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
	const response = await fetch(`${base}${path}`, {
		method,
		headers: body === undefined ? {} : { 'content-type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body)
	});
	expect(response.headers.get('content-type')).toBe('application/json');
	return { status: response.status, body: await response.json() };
}

const post = (path: string, body: unknown) => call('POST', path, body);
const get = (path: string) => call('GET', path);
const del = (path: string) => call('DELETE', path);

/** Reads an SSE response to its end, as the SDK's parseSSEStream does (one JSON `data:` line per event). */
async function sse(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Json[]> {
	const response = await fetch(`${base}${path}`, {
		method,
		headers: body === undefined ? {} : { 'content-type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
		signal: AbortSignal.timeout(10_000)
	});
	expect(response.status).toBe(200);
	expect(response.headers.get('content-type')).toBe('text/event-stream');
	const text = await response.text();
	return text
		.split('\n\n')
		.filter((frame) => frame.startsWith('data: '))
		.map((frame) => JSON.parse(frame.slice('data: '.length)));
}

function watchPort(request: { port: number; mode: 'http' | 'tcp'; path?: string; statusMin?: number; statusMax?: number; processId?: string; interval?: number }) {
	return sse('POST', '/api/port-watch', request);
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await read();
		if (done(value) || Date.now() > deadline) return value;
		await sleep(50);
	}
}

/** Processes of a group that still run (zombies waiting for a slow reaper hold nothing and do not count). */
function liveMembersOfGroup(pgid: number): number[] {
	return liveProcesses()
		.filter((process) => process.pgid === pgid)
		.map((process) => process.pid);
}

/** A terminal socket: what it has shown so far, its JSON messages, and how it closed. */
async function openTerminal(sessionId: string, query: Record<string, string> = {}) {
	const socket = new WebSocket(`${base.replace('http', 'ws')}/ws/pty?${new URLSearchParams({ sessionId, ...query })}`);
	const chunks: Buffer[] = [];
	const messages: Json[] = [];
	const output = () => Buffer.concat(chunks).toString();
	const closed = new Promise<number>((resolve) => socket.once('close', resolve));
	const ready = new Promise<void>((resolve, reject) => {
		socket.on('message', (data: Buffer, isBinary) => {
			if (isBinary) return chunks.push(data);
			const message = JSON.parse(data.toString());
			messages.push(message);
			if (message.type === 'ready') resolve();
		});
		socket.once('close', () => reject(new Error(`terminal closed before ready: ${JSON.stringify(messages)}`)));
	});
	await ready;
	return {
		socket,
		messages,
		output,
		closed,
		type: (keys: string) => socket.send(Buffer.from(keys), { binary: true }),
		sees: async (expected: string | RegExp) => {
			const shown = await until(async () => output(), (text) => (typeof expected === 'string' ? text.includes(expected) : expected.test(text)));
			expect(shown).toMatch(expected);
		}
	};
}

/** The test's `sleep 31337` and `sleep 31338`, while they run. */
function sleepers(): number[] {
	return liveProcesses()
		.map((process) => process.pid)
		.filter((pid) => /^sleep (31337|31338)$/.test(cmdlineOf(pid)));
}

function sleep(ms: number) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}
