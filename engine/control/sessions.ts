/**
 * The sessions of the container, by ID. The SDK creates its default session (`sandbox-<id>`)
 * explicitly with `/api/session/create`; any other ID a call names is created on first use, as
 * the real server does. A session whose shell has died is reported once (SESSION_TERMINATED) and
 * then replaced by a fresh one on the next call.
 */
import { ErrorCode, ProtocolError } from './errors.ts';
import { ShellSession } from './shell-session.ts';

export interface CreateSessionOptions {
	id: string;
	cwd?: string;
	env?: Record<string, string>;
	commandTimeoutMs?: number;
}

export class SessionRegistry {
	private readonly sessions = new Map<string, ShellSession>();
	/** Sessions being started, so that two calls naming a new ID share one shell. */
	private readonly starting = new Map<string, Promise<ShellSession>>();
	private readonly workspace: string;
	private readonly defaultTimeoutMs: number | undefined;
	/** Told when a session goes away, so that the processes started in it go with it. */
	private readonly onDelete: (sessionId: string) => Promise<void>;

	constructor(options: { workspace: string; defaultTimeoutMs: number | undefined; onDelete: (sessionId: string) => Promise<void> }) {
		this.workspace = options.workspace;
		this.defaultTimeoutMs = options.defaultTimeoutMs;
		this.onDelete = options.onDelete;
	}

	/** `/api/session/create`: a live session of that ID is a conflict; a dead one is replaced. */
	async create(options: CreateSessionOptions): Promise<ShellSession> {
		await this.starting.get(options.id)?.catch(() => {});
		const existing = this.sessions.get(options.id);
		// Another create of the same ID may have begun while this one waited: that one wins.
		if (existing?.isReady() || this.starting.has(options.id)) {
			throw new ProtocolError(ErrorCode.SESSION_ALREADY_EXISTS, `Session '${options.id}' already exists`, {
				sessionId: options.id,
				containerPlacementId: process.env.CLOUDFLARE_PLACEMENT_ID ?? null
			});
		}
		if (existing) await this.evict(options.id, existing);
		return this.start(options);
	}

	/**
	 * The session a call runs in, started if it does not exist (in the call's cwd, with the call's
	 * timeout as its default — the real server starts implicit sessions that way).
	 */
	async acquire(id: string, implicit: { cwd?: string; commandTimeoutMs?: number } = {}): Promise<ShellSession> {
		const existing = this.sessions.get(id);
		if (existing) {
			if (existing.isReady()) return existing;
			await this.evict(id, existing);
			throw terminated(id, existing.exitCode);
		}
		return this.starting.get(id) ?? this.start({ id, cwd: implicit.cwd, commandTimeoutMs: implicit.commandTimeoutMs });
	}

	/** Forgets a session whose shell died during a call, so that the next call starts a fresh one. */
	async discardIfDead(id: string) {
		const existing = this.sessions.get(id);
		if (existing && !existing.isReady()) await this.evict(id, existing);
	}

	async delete(id: string): Promise<void> {
		const session = this.sessions.get(id);
		if (!session) {
			throw new ProtocolError(ErrorCode.INTERNAL_ERROR, `Session '${id}' not found`, { sessionId: id, originalError: 'Session not found' });
		}
		// In-flight commands of the session finish first (the real server deletes under the session's lock).
		await session.withLock(async () => {
			this.sessions.delete(id);
			await session.destroy();
		});
		await this.onDelete(id);
	}

	list(): string[] {
		return [...this.sessions.keys()];
	}

	killAllNow() {
		for (const session of this.sessions.values()) session.killNow();
	}

	async destroyAll() {
		await Promise.all([...this.sessions.values()].map((session) => session.destroy()));
		this.sessions.clear();
	}

	private start(options: CreateSessionOptions): Promise<ShellSession> {
		const started = ShellSession.start({
			id: options.id,
			cwd: options.cwd ?? this.workspace,
			env: options.env ?? {},
			commandTimeoutMs: options.commandTimeoutMs ?? this.defaultTimeoutMs
		})
			.then((session) => {
				this.sessions.set(options.id, session);
				return session;
			})
			.catch((error: Error) => {
				throw new ProtocolError(ErrorCode.INTERNAL_ERROR, `Failed to create session '${options.id}': ${error.message}`, {
					sessionId: options.id,
					originalError: error.message
				});
			})
			.finally(() => this.starting.delete(options.id));
		this.starting.set(options.id, started);
		return started;
	}

	private async evict(id: string, session: ShellSession) {
		if (this.sessions.get(id) === session) this.sessions.delete(id);
		await session.destroy();
		await this.onDelete(id);
	}
}

export function terminated(sessionId: string, exitCode: number | null): ProtocolError {
	return new ProtocolError(ErrorCode.SESSION_TERMINATED, `Session '${sessionId}' shell exited (exit code: ${exitCode ?? 'unknown'})`, {
		sessionId,
		exitCode
	});
}
