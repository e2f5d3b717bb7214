/**
 * What a sandbox's coordinator (coordinator.ts) talks to besides its own storage: the SDK's
 * `Sandbox` object that runs its container, the deployment's Capacity object (a slot per running
 * sandbox), its template's warm pool, and its visitor's saved edits. Each call here is one message
 * to one of them; what the coordinator does about the answer is its own business.
 *
 * A neighbour that fails to hear of a release or a pool's news is logged, not thrown: the caller
 * is stopping or settling a boot, and the neighbour heals on its own (capacity asks the
 * coordinators it counts; a pool looks at its members every few minutes).
 */
import { openSandbox, type SandboxNamespace } from '../sandbox/cloudflare';
import type { Sandbox } from '../sandbox/types';
import type { RestoreStep } from './boot';
import { CAPACITY_NAME } from './capacity';
import { savedEditsName, type CapacityApi, type Claim, type Namespace, type PoolApi, type SavedEditsApi } from './contract';
import { backUpEdits, restoreStep } from './edit-backups';
import type { LifetimesEnv } from './lifetimes';
import { savedEditsTtlMs, type SavedEditsEnv } from './saved-edits';
import type { SandboxRecord } from './sandbox-record';

export interface CoordinatorEnv extends LifetimesEnv, SavedEditsEnv {
	Sandbox: SandboxNamespace;
	Capacity: Namespace<CapacityApi>;
	/** The templates' warm pools (pool.ts), told when a pooled sandbox is ready or gone. */
	Pool?: Namespace<PoolApi>;
	/** The visitors' saved edits (saved-edits.ts); without it, or without BACKUP_BUCKET, edits are not saved. */
	SavedEdits?: Namespace<SavedEditsApi>;
}

/** What a pool hears of its unclaimed member: ready to be claimed, gone (stopped), or failed to boot. */
export type PoolNews = 'ready' | 'gone' | 'failed';

export class Neighbours {
	private readonly env: CoordinatorEnv;
	/** The SDK's own idle stop for the container (the safety net behind the coordinator's TTL). */
	private readonly sleepAfterSeconds: number;

	constructor(env: CoordinatorEnv, sleepAfterSeconds: number) {
		this.env = env;
		this.sleepAfterSeconds = sleepAfterSeconds;
	}

	/** The sandbox's container, through the SDK (started by the first call that needs one). */
	sandbox(id: string): Sandbox {
		return openSandbox(this.env.Sandbox, id, { sleepAfter: this.sleepAfterSeconds });
	}

	async destroyContainer(id: string) {
		await this.sandbox(id)
			.destroy()
			.catch((error) => console.error(`[coordinator] destroying ${id} failed`, error));
	}

	/** A slot to run the sandbox in, for `visitor`, or for its template's pool (null). */
	claimSlot(id: string, visitor: string | null): Promise<Claim> {
		return this.capacity().claim(id, visitor);
	}

	/** Gives the sandbox's slot back: its container is gone. */
	async releaseSlot(id: string) {
		await this.capacity()
			.release(id)
			.catch((error) => console.error(`[coordinator] releasing the slot of ${id} failed`, error));
	}

	/** Tells the template's pool (pool.ts) about its unclaimed sandbox. */
	async tellPool(id: string, template: string, news: PoolNews) {
		const pools = this.env.Pool;
		if (!pools) return;
		const pool = pools.get(pools.idFromName(template));
		await (news === 'ready' ? pool.memberReady(id) : pool.memberGone(id, news === 'failed')).catch((error: Error) =>
			console.error(`[coordinator] telling the pool that ${id} is ${news}: ${error.message}`)
		);
	}

	/** Saves the app's files for the sandbox's visitor (edit-backups.ts): true if they were kept. */
	async saveEdits(record: SandboxRecord): Promise<boolean> {
		const store = this.savedEdits(record);
		if (!store || !this.env.BACKUP_BUCKET) return false;
		const { id, template } = record.state;
		return backUpEdits(this.sandbox(id), store, { id, template, startedAt: record.startedAt ?? 0 }, savedEditsTtlMs(this.env));
	}

	/** The step that brings back the visitor's saved edits of the sandbox's template into `sandbox`, if they have any. */
	async restoreStep(record: SandboxRecord, sandbox: Sandbox, restored: () => void): Promise<RestoreStep | null> {
		const store = this.savedEdits(record);
		return store && restoreStep(sandbox, store, record.state.template, restored);
	}

	private savedEdits(record: SandboxRecord): SavedEditsApi | null {
		const namespace = this.env.SavedEdits;
		return namespace && record.visitor ? namespace.get(namespace.idFromName(savedEditsName(record.visitor))) : null;
	}

	private capacity(): CapacityApi {
		return this.env.Capacity.get(this.env.Capacity.idFromName(CAPACITY_NAME));
	}
}
