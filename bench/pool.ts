/**
 * The warm pool on and off, on each target (dev and preview, see targets.ts):
 *
 * - click Start → the preview's first byte in Chromium, for every template, with a pool of one
 *   sandbox per template (each click once the pool has one ready again) and with none;
 * - N visitors (no JavaScript) starting Express at the same moment, with an Express pool as large as
 *   the largest crowd, each round once the pool is full again; and where the time goes for the largest.
 */
import { chromium, type Browser } from '@playwright/test';
import { appRun, TEMPLATE_LABELS, TEMPLATES, type AppBoot } from './app.ts';
import { pairRow, tick, type Row } from './stats.ts';
import { TARGET_NAMES, withTargets, type Target, type TargetName } from './targets.ts';
import { toPreview, type Boot } from './visitor.ts';
import { phases, round, ROUNDS } from './visitors.ts';

interface PoolStatus {
	template: string;
	size: number;
	ready: number;
	starting: number;
}

/** Waits until `template`'s pool has `ready` sandboxes ready (asking also fills it). */
async function poolHas(origin: string, template: string, ready: number, timeoutMs = 180_000) {
	const deadline = performance.now() + timeoutMs;
	for (;;) {
		const pools = (await (await fetch(`${origin}/api/pools`)).json()) as PoolStatus[];
		const pool = pools.find((p) => p.template === template)!;
		if (pool.ready >= ready) return;
		if (performance.now() > deadline) throw new Error(`the ${template} pool at ${origin} has ${JSON.stringify(pool)}, not ${ready} ready`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

/** Each target's clicks, by template; with `pooled`, each once its template's pool has one ready. */
async function clicksOn(browser: Browser, targets: Record<TargetName, Target>, runs: number, pooled: boolean) {
	const boots = Object.fromEntries(TARGET_NAMES.map((name) => [name, Object.fromEntries(TEMPLATES.map((t) => [t, [] as AppBoot[]]))])) as Record<
		TargetName,
		Record<string, AppBoot[]>
	>;
	const click = async (name: TargetName, template: string) => {
		if (pooled) await poolHas(targets[name].origin, template, 1);
		return appRun(browser, targets[name].origin, template);
	};
	for (const template of TEMPLATES) {
		// Warm-up: the first request compiles (vite dev) or loads (workerd) the pages.
		for (const name of TARGET_NAMES) await click(name, template);
		for (let i = 0; i < runs; i++) {
			for (const name of TARGET_NAMES) boots[name][template].push(await click(name, template));
			tick();
		}
	}
	return boots;
}

/** Each target's crowds, by size, each round once the Express pool is full again. */
async function crowdsOn(targets: Record<TargetName, Target>, poolSize: number) {
	const rounds = Object.fromEntries(TARGET_NAMES.map((name) => [name, new Map<number, Boot[]>()])) as Record<TargetName, Map<number, Boot[]>>;
	const full = (name: TargetName) => () => poolHas(targets[name].origin, 'express', poolSize);
	for (const name of TARGET_NAMES) await round(targets[name].port, 1, full(name));
	for (const visitors of ROUNDS) {
		for (const name of TARGET_NAMES) {
			await full(name)();
			rounds[name].set(visitors, await round(targets[name].port, visitors, full(name)));
		}
		tick();
	}
	return rounds;
}

export async function benchPool(runs: number): Promise<Row[]> {
	const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
	let on: Awaited<ReturnType<typeof clicksOn>>;
	let off: Awaited<ReturnType<typeof clicksOn>>;
	try {
		on = await withTargets((targets) => clicksOn(browser, targets, runs, true), { env: { SANDBOX_POOL_SIZE: '1' } });
		off = await withTargets((targets) => clicksOn(browser, targets, runs, false), { env: { SANDBOX_POOL_SIZE: '0' } });
	} finally {
		await browser.close();
	}
	const poolSize = Math.max(...ROUNDS);
	const crowds = await withTargets((targets) => crowdsOn(targets, poolSize), { env: { SANDBOX_POOL_SIZE: `express=${poolSize}` } });

	const rows: Row[] = [];
	for (const template of TEMPLATES) {
		const ms = (boots: typeof on, name: TargetName) => boots[name][template].map((boot) => boot.ms);
		rows.push(pairRow(`click Start → preview first byte, ${TEMPLATE_LABELS[template]}, pool on`, ms(on, 'dev'), ms(on, 'preview')));
		rows.push(pairRow(`… pool off`, ms(off, 'dev'), ms(off, 'preview')));
	}
	for (const visitors of ROUNDS) {
		const [dev, preview] = TARGET_NAMES.map((name) => crowds[name].get(visitors)!.map(toPreview));
		rows.push(pairRow(`${visitors} at once, Express pool of ${poolSize}: form posted → preview first byte`, dev, preview));
	}
	const largest = Math.max(...ROUNDS);
	rows.push([`where the time goes with ${largest} at once and the pool full, phase by phase:`]);
	const [devPhases, previewPhases] = TARGET_NAMES.map((name) => phases(crowds[name].get(largest)!));
	for (const label of new Set([...devPhases.keys(), ...previewPhases.keys()])) {
		rows.push(pairRow(label, devPhases.get(label) ?? [], previewPhases.get(label) ?? []));
	}
	return rows;
}
