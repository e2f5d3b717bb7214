/**
 * N visitors pressing Start (Express) at the same moment, on each target (dev and preview, see
 * targets.ts): each one's time from posting the form to the preview's first byte (without the state
 * poll's lag, see visitor.ts), per N; and, for the largest N, where that time goes — the boot steps
 * the app reports with their durations, what comes before the first of them, and what comes after
 * the last. Every round's sandboxes are stopped, and checked gone, before the next round starts.
 */
import { noSandboxesLeft } from './processes.ts';
import { pairRow, tick, type Row } from './stats.ts';
import { TARGET_NAMES, withTargets, type Target, type TargetName } from './targets.ts';
import { POLL_MS, readyAfter, toPreview, Visitor, type Boot } from './visitor.ts';

/** Visitors per round; BENCH_VISITORS=5 for a quick look. One alone is the reference. */
export const ROUNDS = (process.env.BENCH_VISITORS ?? '1,5,10,20').split(',').map(Number);

/**
 * Boots N sandboxes at once; resolves with every boot, or rejects once all are stopped. `settle`
 * waits after the stops (by default, until no sandbox process of ours is left).
 */
export async function round(port: number, visitors: number, settle: () => Promise<void> = noSandboxesLeft): Promise<Boot[]> {
	const crowd = Array.from({ length: visitors }, () => new Visitor(port));
	try {
		await Promise.all(crowd.map((visitor) => visitor.openHome()));
		const boots = await Promise.allSettled(crowd.map((visitor) => visitor.boot('express')));
		const failures = boots.flatMap((boot) => (boot.status === 'rejected' ? [String(boot.reason)] : []));
		if (failures.length > 0) throw new Error(`${failures.length} of ${visitors} visitors got no preview; the first: ${failures[0]}`);
		return boots.map((boot) => (boot as PromiseFulfilledResult<Boot>).value);
	} finally {
		await Promise.all(crowd.map((visitor) => visitor.stop()));
		for (const visitor of crowd) visitor.close();
		await settle();
	}
}

/** The phases of one target's boots, in order: before the first step, each step, after the last. */
export function phases(boots: Boot[]): Map<string, number[]> {
	const phases = new Map<string, number[]>([['  form posted → first boot step begins', boots.map((b) => b.state.steps[0].startedAt - b.postedAtEpoch)]]);
	for (const { label } of boots[0].state.steps) {
		phases.set(`  step: ${label}`, boots.flatMap((b) => b.state.steps.find((step) => step.label === label)?.durationMs ?? []));
	}
	phases.set('  ready → preview first byte', boots.map((b) => b.previewAt - b.seenReadyAt));
	phases.set(`  (not counted: ready → seen by a poll every ${POLL_MS} ms)`, boots.map((b) => b.seenReadyAt - b.postedAt - readyAfter(b)));
	return phases;
}

/** Each target's rounds, after an unmeasured one each: by target, every round's boots by its number of visitors. */
async function roundsOn(targets: Record<TargetName, Target>): Promise<Record<TargetName, Map<number, Boot[]>>> {
	// Unmeasured: workerd loads the app and the Durable Object classes on first use.
	for (const name of TARGET_NAMES) await round(targets[name].port, 1);
	const rounds = Object.fromEntries(TARGET_NAMES.map((name) => [name, new Map<number, Boot[]>()])) as Record<TargetName, Map<number, Boot[]>>;
	// The targets take turns round by round.
	for (const visitors of ROUNDS) {
		for (const name of TARGET_NAMES) rounds[name].set(visitors, await round(targets[name].port, visitors));
		tick();
	}
	return rounds;
}

export async function benchVisitors(): Promise<Row[]> {
	const { dev, preview } = await withTargets(roundsOn);
	const rows: Row[] = ROUNDS.map((visitors) => pairRow(`${visitors} at once: form posted → preview first byte`, dev.get(visitors)!.map(toPreview), preview.get(visitors)!.map(toPreview)));
	const largest = Math.max(...ROUNDS);
	rows.push([`where the time goes with ${largest} at once, phase by phase:`]);
	const [devPhases, previewPhases] = [phases(dev.get(largest)!), phases(preview.get(largest)!)];
	for (const label of new Set([...devPhases.keys(), ...previewPhases.keys()])) {
		rows.push(pairRow(label, devPhases.get(label) ?? [], previewPhases.get(label) ?? []));
	}
	return rows;
}
