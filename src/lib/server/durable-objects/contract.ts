/**
 * What the app's routes may ask of the Durable Objects — a sandbox's coordinator (coordinator.ts),
 * the start gates (start-gate.ts) and a visitor's saved edits (saved-edits.ts) — and what they ask of each other (capacity.ts), and what
 * they answer.
 * Routes import these types only: the coordinator itself runs in workerd, and in `vite dev` the
 * routes reach it through wrangler's platform proxy.
 *
 * Every answer is a value, never a thrown error: an error thrown by a Durable Object's method
 * does not survive the platform proxy (it arrives as an assertion about a "Promise" header).
 */
import type { LogLine } from '../../app-logs';
import type { SandboxSnapshot } from '../../sandbox-state';
import type { DirectoryBackup } from '../sandbox/types';

/** What a visitor's sandbox says once their newer one has replaced it (start action, or capacity.ts). */
export const REPLACED_REASON = 'You started another sandbox, which replaced it.';

/** Where a coordinator's `fetch` takes the API console's call (a JSON `ApiCall`; see api-console.ts). */
export const API_CALL_PATH = '/api-call';
/** Where a coordinator's `fetch` follows the app's logs (GET; see app-logs.ts). */
export const LOGS_PATH = '/logs';
/** Where a coordinator's `fetch` opens a terminal (a WebSocket upgrade, `?cols&rows`; see terminal.ts). */
export const TERMINAL_PATH = '/terminal';

/** The largest message a status socket reads: the browser sends none at all. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export interface StartRequest {
	id: string;
	template: string;
	/** Who starts it: at capacity, this visitor's own other sandbox is the first to make room. */
	visitor: string;
	/** The app's origin (`http://localhost:5173`): preview URLs hang off its host, with its scheme and port. */
	origin: string;
}

export interface StatusRequest {
	/** Who asks: the state is theirs only if the sandbox is. */
	visitor: string;
	/** Answer once the state's version differs from this one (or `waitMs` has passed). */
	after?: number;
	waitMs?: number;
	/** Then, during a boot, go on gathering the changes that follow for this long, and answer them together. */
	gatherMs?: number;
	/** Also issue a one-time ticket into the preview if the sandbox is ready (the page's iframe goes straight in with it). */
	previewTicket?: boolean;
}

/**
 * The state with its version, and how often a visible tab should say it is still open (`heartbeatMs`,
 * well within the idle TTL and the reclaim grace), and the ticket asked for, if the preview is up;
 * null when the sandbox is not the visitor's (never started, another's, or forgotten a day after it
 * stopped).
 */
export type StatusReply = { state: SandboxSnapshot; version: number; heartbeatMs: number; previewTicket?: PreviewTicket | null } | null;

/** A start refused because every sandbox the deployment may run is in use, or one that failed midway: try again later. */
export interface Busy {
	ok: false;
	status: 503;
	message: string;
	retryAfterSeconds: number;
}

export type StartReply = { ok: true; state: SandboxSnapshot } | Busy;

/** A refusal the route answers with this HTTP status and message. */
export interface Refusal {
	ok: false;
	status: 400 | 403 | 404 | 409 | 413 | 502;
	message: string;
}

export type ReadReply = { ok: true; content: string } | Refusal;
/** `hotReloaded`: a browser's dev-server client applied the change itself. */
export type WriteReply = { ok: true; hotReloaded: boolean } | Refusal;

export type RestartReply = { ok: true } | Refusal;

/** Who may open a sandbox's preview: its owner's browser alone (with the preview cookie), or anyone. */
export type PreviewAccess = 'private' | 'public';

export interface PreviewAnswer {
	status: number;
	method: string;
	/** The path asked for (without its query). */
	path: string;
	/** A page load (a document or an iframe's), not one of its subresources. */
	navigation: boolean;
}

/** What a preview that reached no server says instead: the evidence, and whether it is worth retrying shortly. */
export interface PreviewDiagnosis {
	message: string;
	log: LogLine[];
	retry: boolean;
}

/** A one-time ticket into the preview (see preview-access.ts), for the owner's browser. */
/** A one-time ticket into the preview at `previewUrl` (see preview-access.ts). */
export interface PreviewTicket {
	previewUrl: string;
	ticket: string;
}

export type PreviewTicketReply = ({ ok: true } & PreviewTicket) | Refusal;

/** The coordinator's RPC surface, as a route sees it through a Durable Object stub. */
export interface CoordinatorApi {
	/**
	 * Boots the sandbox once it has a slot (capacity.ts); a sandbox that runs already is only touched.
	 * A sandbox of the warm pool's, ready and unclaimed, becomes the visitor's: only its preview is
	 * left to make.
	 */
	start(request: StartRequest): Promise<StartReply>;
	/** From a template's pool (pool.ts): boots the sandbox ahead of any visitor, to be claimed by a start. */
	prewarm(request: PrewarmRequest): Promise<PrewarmReply>;
	/** Whether the sandbox is this visitor's: started by them, or given to them from the warm pool. */
	ownedBy(visitor: string): Promise<boolean>;
	/** The state, for its owner only (counts as use). */
	status(request: StatusRequest): Promise<StatusReply>;
	/** Counts as use: a page view, a status read or a visible tab's heartbeat. */
	touch(): Promise<void>;
	/** A preview request counts as use only with the host the coordinator issued (token included). */
	touchPreview(host: string): Promise<void>;
	/**
	 * A preview request the app answered, as `touchPreview`: a 5xx is kept as the app's problem (with
	 * its last lines); a page it answers again (a navigation under 500), or the request that failed
	 * answered now, clears the problem.
	 */
	previewAnswered(host: string, answer: PreviewAnswer): Promise<void>;
	/** Why a preview request reached no server in the sandbox, looked for there (app-problems.ts) and kept as the app's problem. */
	diagnosePreview(host: string): Promise<PreviewDiagnosis>;
	/** Whether it is booting or running (without counting as use, unlike `status`). */
	isRunning(): Promise<boolean>;
	/** Whether it runs, and for how long nothing has used it (without counting as use). */
	usage(): Promise<Usage>;
	/**
	 * Stops the sandbox to make room for another, with `reason` on its page: only if it is ready and
	 * unused for `idleForMs`, or whatever its state without it (its owner started another); with
	 * `unclaimed`, only if nobody has claimed it from its pool yet. True if it stopped.
	 */
	reclaim(reason: string, idleForMs?: number, unclaimed?: boolean): Promise<boolean>;
	/** A ticket its visitor's browser redeems at the preview host for the preview cookie. */
	issuePreviewTicket(): Promise<PreviewTicketReply>;
	/** True once per ticket issued for this preview host, within its minute. */
	redeemPreviewTicket(host: string, ticket: string): Promise<boolean>;
	/** The access of the preview at `host`, or null if this sandbox issued no such host. */
	previewAccessOf(host: string): Promise<PreviewAccess | null>;
	setPreviewAccess(access: PreviewAccess): Promise<void>;
	/** Boots a ready sandbox again whose container went away (its preview answered 410); false if it is not coming back. */
	revive(): Promise<boolean>;
	/**
	 * Stops the ready sandbox's app and starts it again in the same container, with its files as
	 * they are now (edited in the terminal, say): the state goes through `initializing` again, with
	 * its preview URL kept. An app that fails to come back leaves the sandbox `ready`, with the
	 * failure as its `problem`.
	 */
	restartApp(): Promise<RestartReply>;
	stop(reason: string): Promise<void>;
	readSource(path: string): Promise<ReadReply>;
	writeSource(path: string, content: string): Promise<WriteReply>;
	/** The app's last lines of output (cleaned, secrets redacted); null when the sandbox is not ready. */
	recentLogs(): Promise<LogLine[] | null>;
	/**
	 * A WebSocket upgrade: the browser's status socket. Or `POST {API_CALL_PATH}` with an `ApiCall`:
	 * the console's request into the sandbox, answered 200 with its parts (one JSON per line), or
	 * 400/404/409 with `{ message }`. Or `GET {LOGS_PATH}`: the app's logs as they come, as parts
	 * (app-logs.ts), or 409 when the sandbox is not ready. Or an upgrade at `{TERMINAL_PATH}`: a
	 * shell in the sandbox (terminal.ts), or 400 (size), 409 (not ready), 429 (too many), 502 as text.
	 */
	fetch(request: Request): Promise<Response>;
}

export interface StartLimit {
	/** How many starts are let through … */
	starts: number;
	/** … within this many milliseconds. */
	perMs: number;
}

/** A cap on the sandboxes running at once that were started from one client address. */
export interface LiveLimit {
	/** How many other visitors' sandboxes may run … */
	max: number;
	/** … when this visitor starts this sandbox (which replaces the visitor's own previous one). */
	visitor: string;
	sandboxId: string;
}

/** `rate`: too many starts in the window; `live`: too many sandboxes running from this address. */
export type Admission = { ok: true } | { ok: false; retryAfterSeconds: number; reason: 'rate' | 'live' };

/** A visitor's start, as their gate makes it (`StartGateApi.start`): the gate names the sandbox. */
export interface GatedStart extends Omit<StartRequest, 'id'> {
	/** The client's network (client-network.ts): its address gate counts the starts from there. */
	network: string;
	/** Starts per minute by the visitor and from the network, and sandboxes running at once from the network. */
	limits: { perVisitor: number; perNetwork: number; liveAtNetwork: number };
	/** Without the visitor's saved edits of the template, which are forgotten first. */
	clean: boolean;
}

/** Started, as `id` (and the visitor's previous sandbox stopped), or refused: by a start limit (429) or for want of room (503). */
export type GatedStartReply = { ok: true; id: string } | Exclude<Admission, { ok: true }> | Busy;

/** The start gate's RPC surface (start-gate.ts): one per visitor, and one per client network. */
export interface StartGateApi {
	/**
	 * On the visitor's gate: the whole start in one call (from `vite dev`, each call crosses the
	 * platform proxy). The visitor's limit, then the network's, then the start clean, the
	 * coordinator's start, and the visitor's previous sandbox stopped.
	 */
	start(request: GatedStart): Promise<GatedStartReply>;
	admit(limit: StartLimit, live?: LiveLimit): Promise<Admission>;
	replaceLive(sandboxId: string): Promise<string | null>;
}

/** The names of a visitor's start gate, and of a client network's. */
export const visitorGateName = (visitor: string) => `visitor:${visitor}`;
export const networkGateName = (network: string) => `address:${network}`;

/** The app's files as a visitor's edited sandbox of `template` left them (saved-edits.ts). */
export interface SavedEdit {
	template: string;
	backup: DirectoryBackup;
	/** Epoch ms. */
	savedAt: number;
	/** Epoch ms: forgotten then, unless a later save renews it. */
	expiresAt: number;
}

export type KeepOutcome = { kept: true } | { kept: false; reason: string };

/** The name of a visitor's SavedEdits object. */
export const savedEditsName = (visitor: string) => `visitor:${visitor}`;

/** A visitor's saved edits (saved-edits.ts), as the coordinators and the routes use them. */
export interface SavedEditsApi {
	/**
	 * Keeps `edit` as the template's, replacing (and deleting) the one before. Refused, and `edit`
	 * deleted, if its archive is over the size limit, or its sandbox started before the visitor last
	 * asked to start the template clean.
	 */
	keep(edit: SavedEdit, sandboxStartedAt: number): Promise<KeepOutcome>;
	/** The template's saved edits, unless expired. */
	latest(template: string): Promise<SavedEdit | null>;
	/** Every template's, unless expired. */
	list(): Promise<SavedEdit[]>;
	/** Start clean: forgets (and deletes) the template's saved edits, and refuses those of sandboxes started until now. */
	discard(template: string): Promise<void>;
}

export interface Usage {
	running: boolean;
	idleMs: number;
}

/** A slot to run a sandbox in, or when to ask again. */
export type Claim = { ok: true } | { ok: false; retryAfterSeconds: number };

/** The deployment's one Capacity object (capacity.ts), as the coordinators use it. */
export interface CapacityApi {
	/**
	 * A slot for `sandboxId`, started by `visitor`, or for the warm pool (null): a pool's claim never
	 * makes room. A sandbox that holds a slot already keeps it, as `visitor`'s from now on.
	 */
	claim(sandboxId: string, visitor: string | null): Promise<Claim>;
	release(sandboxId: string): Promise<void>;
}

/** A template's warm pool (pool.ts): one per template, named by its ID (and told it: `claim`, `fill`). */
export interface PoolApi {
	/** A ready sandbox of `template`'s pool, now no longer offered to anyone, or null when it has none. */
	claim(template: string): Promise<string | null>;
	/** A sandbox `claim` gave out that the start did not take after all (a start limit refused it). */
	giveBack(sandboxId: string): Promise<void>;
	/**
	 * Starts the pool's missing sandboxes soon, if it has fewer than its size (cheap: a page view
	 * asks); answers what it holds now.
	 */
	fill(template: string): Promise<PoolStatus>;
	/** From a member's coordinator: it is ready to be claimed. */
	memberReady(sandboxId: string): Promise<void>;
	/** From a member's coordinator: it stopped, or failed to start, unclaimed. */
	memberGone(sandboxId: string, failed: boolean): Promise<void>;
	/** What the pool holds now, oldest first (a look inside, for operators and tests). */
	members(): Promise<PoolMember[]>;
}

/** A pool's size, and how many of its sandboxes are ready to be claimed, and starting. */
export interface PoolStatus {
	size: number;
	ready: number;
	starting: number;
}

export interface PoolMember {
	sandboxId: string;
	/** Booted, and waiting for a visitor; false while it boots. */
	ready: boolean;
}

/** What a pool asks of a member's coordinator: boot `template` with nobody's name on it. */
export interface PrewarmRequest {
	id: string;
	template: string;
}

/** Booting for the pool, or no room to (a pool never makes room): ask again later. */
export type PrewarmReply = { ok: true } | { ok: false; retryAfterSeconds: number };

/** A Durable Object namespace as the routes use it (workerd's, or the platform proxy's in `vite dev`). */
export interface Namespace<Api> {
	idFromName(name: string): unknown;
	get(id: unknown): Api;
}

export type CoordinatorNamespace = Namespace<CoordinatorApi>;
