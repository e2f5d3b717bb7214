/** Percentiles and the bench's output: fixed-width tables on stdout, progress on stderr. */

const LABEL_WIDTH = 64;
const CELL_WIDTH = 8;

/** The nearest-rank percentile: a value that was measured, never an interpolation. */
export function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** A row of a table: a label and its cells; a row without cells is a note, printed as it is. */
export type Row = [label: string, ...cells: string[]];

const NONE = '–';
const ms = (values: number[], p: number) => (values.length === 0 ? NONE : percentile(values, p).toFixed(0));
const ratio = (numerator: number[], denominator: number[], p: number) =>
	numerator.length === 0 || denominator.length === 0 ? NONE : `${(percentile(numerator, p) / percentile(denominator, p)).toFixed(2)}x`;

/** p50 and p95 of durations in milliseconds. */
export function msRow(label: string, values: number[]): Row {
	return [label, ms(values, 50), ms(values, 95)];
}

/** p50 and p95 of `numerator` over those of `denominator`. */
export function ratioRow(label: string, numerator: number[], denominator: number[]): Row {
	return [label, ratio(numerator, denominator, 50), ratio(numerator, denominator, 95)];
}

/**
 * The same measurement on both paths side by side: dev's p50 and p95, preview's, and dev over
 * preview at each (see pairHeader).
 */
export function pairRow(label: string, dev: number[], preview: number[]): Row {
	return [label, ms(dev, 50), ms(dev, 95), ms(preview, 50), ms(preview, 95), ratio(dev, preview, 50), ratio(dev, preview, 95)];
}

/** A header over groups of two columns each, e.g. `dev`, `preview`, `dev/preview`. */
export function groupHeader(...groups: string[]): Row {
	const width = 2 * CELL_WIDTH;
	const centred = (text: string) => {
		const left = Math.floor((width - text.length) / 2) + 2;
		return text.padStart(left + text.length).padEnd(width);
	};
	return [' '.repeat(LABEL_WIDTH) + groups.map(centred).join('')];
}

/** The header of a table of pairRows: the groups, then `unit` with p50/p95 under each. */
export function pairHeader(unit = '(milliseconds)'): Row[] {
	return [groupHeader('dev', 'preview', 'dev/preview'), [unit, 'p50', 'p95', 'p50', 'p95', 'p50', 'p95']];
}

export function printTable(title: string, header: Row | Row[], rows: Row[]) {
	const headers = typeof header[0] === 'string' ? [header as Row] : (header as Row[]);
	const line = ([label, ...cells]: Row) =>
		cells.length === 0 ? label : `${label.padEnd(LABEL_WIDTH)}${cells.map((cell) => cell.padStart(CELL_WIDTH)).join('')}`;
	console.log(`\n${title}\n`);
	for (const row of [...headers, ...rows]) console.log(line(row));
}

/** Progress on stderr, so that stdout holds only the tables. */
export function tick() {
	process.stderr.write('.');
}
