/**
 * A sandbox's preview, as its coordinator (coordinator.ts) keeps it: who may open it (private to
 * its owner's browser, who gets in with one-time tickets, or public), and what its answers say of
 * the app (a problem, app-problems.ts, shown on the page until the app answers again).
 */
import type { AppProblem } from '../../sandbox-state';
import { diagnose, requestLine, serverError } from '../app-problems';
import type { Sandbox } from '../sandbox/types';
import type { PreviewAccess, PreviewAnswer, PreviewDiagnosis, PreviewTicketReply } from './contract';
import { issueTicket, redeemTicket } from './preview-tickets';
import { secretsOf, type SandboxRecord } from './sandbox-record';

/**
 * How long a diagnosis of an unreachable app answers the preview's requests before it is made again:
 * a page load's burst of requests. (An app that exited stays so until a restart, which clears it; one
 * that stopped listening may exit next, or listen again.)
 */
const DIAGNOSIS_REUSE_MS = 1_000;

/** What the keeper needs of the coordinator. */
export interface PreviewKeeperHost {
	/** The sandbox's record now: null before a start, and once forgotten. */
	record(): SandboxRecord | null;
	/** Which run of the app is current: every boot and every stop begins another. */
	generation(): number;
	sandbox(record: SandboxRecord): Sandbox;
	/** The port the app listens on. */
	port(record: SandboxRecord): number;
	/** The visitor used the sandbox. */
	touch(): Promise<void>;
	save(): Promise<void>;
	/** Saves a change of the visitor's state and tells their page. */
	changedState(): Promise<void>;
}

export class PreviewKeeper {
	private readonly host: PreviewKeeperHost;

	constructor(host: PreviewKeeperHost) {
		this.host = host;
	}

	/** The record, if `host` is its preview's (the host the coordinator issued, token included). */
	private recordOf(host: string): SandboxRecord | null {
		const record = this.host.record();
		return record?.previewHost !== undefined && record.previewHost === host.toLowerCase() ? record : null;
	}

	/** A preview request counts as use while the preview is up, and only with its host. */
	async touch(host: string): Promise<void> {
		const previewUrl = this.host.record()?.state.previewUrl;
		if (previewUrl && new URL(previewUrl).host === host.toLowerCase()) await this.host.touch();
	}

	async issueTicket(): Promise<PreviewTicketReply> {
		const record = this.host.record();
		const status = record?.state.status;
		if (!record?.previewHost || !record.origin || (status !== 'ready' && status !== 'initializing')) {
			return { ok: false, status: 409, message: 'The sandbox has no preview right now: it is not running.' };
		}
		const { ticket, tickets } = issueTicket(record.tickets);
		record.tickets = tickets;
		await this.host.touch();
		await this.host.save();
		return { ok: true, previewUrl: `${new URL(record.origin).protocol}//${record.previewHost}/`, ticket };
	}

	async redeemTicket(host: string, ticket: string): Promise<boolean> {
		const record = this.recordOf(host);
		if (!record?.tickets) return false;
		const { valid, tickets } = redeemTicket(record.tickets, ticket);
		record.tickets = tickets;
		await this.host.save();
		return valid;
	}

	accessOf(host: string): PreviewAccess | null {
		return this.recordOf(host)?.state.previewAccess ?? null;
	}

	async setAccess(access: PreviewAccess): Promise<void> {
		const record = this.host.record();
		if (!record || record.state.previewAccess === access) return;
		record.state.previewAccess = access;
		await this.host.touch();
		await this.host.changedState();
	}

	/** Why the preview reached no server: what the page behind it, and the sandbox's page, say. */
	async diagnose(host: string): Promise<PreviewDiagnosis> {
		const record = this.recordOf(host);
		if (!record) return { message: 'This preview does not exist.', log: [], retry: false };
		const { status, steps, error } = record.state;
		if (status === 'initializing') return { message: `The app is starting: ${steps.at(-1)?.label ?? 'Starting the sandbox'}…`, log: [], retry: true };
		if (status !== 'ready') return { message: error?.message ?? 'The sandbox is not running.', log: [], retry: false };
		// A page load is many requests: one look inside the sandbox answers them all.
		const known = record.state.problem;
		const final = known?.kind === 'exited';
		if (known && known.kind !== 'server-error' && (final || Date.now() - known.at < DIAGNOSIS_REUSE_MS)) return { message: known.message, log: known.log, retry: true };
		const generation = this.host.generation();
		const problem = await diagnose(this.host.sandbox(record), this.host.port(record), secretsOf(record)).catch((error) => {
			console.warn('[coordinator] diagnosing the preview failed', error);
			return null;
		});
		if (!problem) return { message: 'The preview could not reach the app just now, though it runs and listens.', log: [], retry: true };
		await this.setProblem(record, generation, problem);
		return { message: problem.message, log: problem.log, retry: true };
	}

	/** A preview request the app answered (contract.ts, `previewAnswered`). */
	async answered(host: string, answer: PreviewAnswer): Promise<void> {
		const record = this.recordOf(host);
		if (!record) return;
		await this.host.touch();
		if (record.state.status !== 'ready') return;
		const problem = record.state.problem;
		const generation = this.host.generation();
		if (answer.status >= 500) {
			await this.setProblem(record, generation, await serverError(this.host.sandbox(record), secretsOf(record), answer));
		} else if (problem && (answer.navigation || problem.request === requestLine(answer))) {
			await this.setProblem(record, generation, null); // the app answers a page again, or what it failed
		}
	}

	/** Records what became of the app, unless the run it was seen in has since been replaced (a restart, a stop). */
	async setProblem(record: SandboxRecord, generation: number, problem: AppProblem | null) {
		if (this.host.record() !== record || this.host.generation() !== generation || record.state.status !== 'ready') return;
		record.state.problem = problem;
		await this.host.changedState();
	}
}
