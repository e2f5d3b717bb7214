/**
 * npm run bench — prints p50/p95 (milliseconds unless said otherwise), section by section:
 *
 *   launch      `npm run dev` and `npm run preview` (after its build): the command → the start page
 *               served, and for dev how much of it the engine and the companion worker take.
 *   exec        Cold start: `node server.js` spawned on the host versus in a new container of the
 *               local engine (over its container API) to the first byte through its forwarded port,
 *               and their ratio; then a new container → its first exec('true') through the SDK in
 *               workerd, beside public figures for scale.
 *   cpu         Where a container boot's CPU goes, at the engine's level: the CPU time of each of its
 *               processes by job (control server, app, port forwarder, network), and the engine's.
 *   app         Through the app in Chromium: click Start → the preview's first byte for each
 *               template, the requests the page made meanwhile, and for Vue + Vite, save → the edit
 *               visible in the iframe.
 *   throughput  Requests per second of GET / from Express: on the host, through the engine's port
 *               forward alone, and through the app's whole preview path, with the ratios.
 *   visitors    N visitors starting Express at the same moment (no JavaScript): form posted →
 *               preview first byte for each N, and where the time goes for the largest N.
 *   capacity    A machine with room for two sandboxes, and a third visitor: the "busy" answer while
 *               both are in use, and the preview reclaiming one that went unused.
 *   pool        The warm pool on and off: click Start → the preview's first byte for each template,
 *               and 1/5/10/20 visitors at once with the pool full, with the phase table.
 *
 * launch, app, throughput, visitors, capacity and pool run on both ways to run the app at once (targets.ts), taking turns
 * run by run, and print them side by side with the ratio dev / preview:
 *   dev      `npm run dev`: vite dev + the companion `wrangler dev` with the Durable Objects
 *   preview  `npm run preview`: the built worker in `wrangler dev`
 *
 *   BENCH_RUNS=12              runs per measurement of exec and app (default 10; launch: half as many)
 *   BENCH_ONLY=exec,visitors   these sections only (default: all, in the order above)
 *   BENCH_VISITORS=1,5         the visitors' rounds (default 1,5,10,20)
 */
import { benchApp } from './app.ts';
import { benchBootCpu } from './boot-cpu.ts';
import { benchCapacity } from './capacity.ts';
import { benchColdStart } from './cold-start.ts';
import { benchLaunch } from './launch.ts';
import { benchPool } from './pool.ts';
import { benchSdkExec } from './sdk-exec.ts';
import { groupHeader, pairHeader, printTable, type Row } from './stats.ts';
import { TARGETS } from './targets.ts';
import { CONCURRENCY, MEASURE_MS, TURNS, WARMUP_MS, benchThroughput } from './throughput.ts';
import { benchVisitors } from './visitors.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const MS: Row = ['(milliseconds)', 'p50', 'p95'];
const PATHS = `dev = ${TARGETS.dev.label}; preview = ${TARGETS.preview.label}`;

const SECTIONS: Record<string, () => Promise<void>> = {
	async launch() {
		const runs = Math.ceil(RUNS / 2);
		printTable(`Launching the app — ${runs} launches each (preview: after its vite build, not counted)\n${PATHS}`, pairHeader(), await benchLaunch(runs));
	},
	async exec() {
		const rows = [...(await benchColdStart(RUNS)), ...(await benchSdkExec(RUNS))];
		printTable(`Cold start — ${RUNS} runs each, Node ${process.versions.node}`, MS, rows);
	},
	async cpu() {
		printTable(`CPU per container boot, to the app's first byte — ${RUNS} boots`, ['(CPU milliseconds)', 'p50', 'p95'], await benchBootCpu(RUNS));
	},
	async app() {
		printTable(`Through the app in Chromium — ${RUNS} runs each\n${PATHS}`, pairHeader(), await benchApp(RUNS));
	},
	async throughput() {
		const { reference, paths } = await benchThroughput();
		const load = `${CONCURRENCY} keep-alive connections, ${MEASURE_MS / 1000} s after ${WARMUP_MS / 1000} s of warm-up`;
		printTable(`Preview throughput, Express GET / — ${load}`, ['(GET / answered 200)', 'req/s', 'vs host'], reference);
		const header = [groupHeader('dev', 'preview', 'dev/preview'), ['(GET / answered 200)', 'req/s', 'vs host', 'req/s', 'vs host', 'req/s']] as Row[];
		printTable(`… through the app: the same ${MEASURE_MS / 1000} s in ${TURNS} turns, dev and preview alternating\n${PATHS}`, header, paths);
	},
	async visitors() {
		printTable(`Visitors starting Express at the same moment (no JavaScript)\n${PATHS}`, pairHeader(), await benchVisitors());
	},
	async capacity() {
		const title = `A full machine (room for two sandboxes), the third visitor (no JavaScript) — ${RUNS} runs each`;
		printTable(`${title}\n${PATHS}`, pairHeader(), await benchCapacity(RUNS));
	},
	async pool() {
		printTable(`The warm pool on and off — ${RUNS} runs each\n${PATHS}`, pairHeader(), await benchPool(RUNS));
	}
};

const chosen = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()) ?? Object.keys(SECTIONS);
const unknown = chosen.filter((name) => !(name in SECTIONS));
if (unknown.length > 0) throw new Error(`BENCH_ONLY: no section ${unknown.join(', ')} (there are ${Object.keys(SECTIONS).join(', ')})`);

const started = performance.now();
for (const name of chosen) {
	await SECTIONS[name]();
	process.stderr.write('\n');
}
const seconds = Math.round((performance.now() - started) / 1000);
console.log(`\n(${chosen.join(', ')}: ${Math.floor(seconds / 60)} min ${seconds % 60} s in all)`);
