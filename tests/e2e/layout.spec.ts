import { expect, test, type Page } from '@playwright/test';
import { codeEditor, pageScrollsSideways, preview, smallTapTargets, startSandbox } from './helpers.ts';

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 };
const DESKTOP = { viewport: { width: 1280, height: 800 } };

/**
 * Every line number and code line the visitor can see, with their boxes' vertical edges: the gutter is
 * drawn apart from the text, and the two drift apart when CodeMirror guesses line heights. With
 * `scrollTo`, the element is scrolled into view first, and the lines measured before the next frame:
 * the first frame the visitor sees there.
 */
function visibleLines(page: Page, scrollTo?: string) {
	return page.evaluate((scrollTo) => {
		if (scrollTo) document.querySelector(scrollTo)!.scrollIntoView();
		const onScreen = (box: DOMRect) => box.height > 0 && box.bottom > 0 && box.top < innerHeight;
		// The gutter holds one element per line of the rendered range (after a zero-height spacer).
		const numbers = [...document.querySelectorAll('.cm-lineNumbers .cm-gutterElement')].filter(
			(element) => element.getBoundingClientRect().height > 0
		);
		const lines = [...document.querySelectorAll('.cm-content > .cm-line')];
		const first = Number(numbers[0]?.textContent);
		return numbers.flatMap((number) => {
			const numberBox = number.getBoundingClientRect();
			const line = lines[Number(number.textContent) - first];
			if (!line || !onScreen(numberBox)) return [];
			const lineBox = line.getBoundingClientRect();
			return [{ number: Number(number.textContent), top: [numberBox.top, lineBox.top], bottom: [numberBox.bottom, lineBox.bottom] }];
		});
	}, scrollTo);
}

function expectBesideEachOther(lines: Awaited<ReturnType<typeof visibleLines>>) {
	for (const { number, top, bottom } of lines) {
		expect(Math.abs(top[0] - top[1]), `line ${number}'s top`).toBeLessThanOrEqual(2);
		expect(Math.abs(bottom[0] - bottom[1]), `line ${number}'s bottom`).toBeLessThanOrEqual(2);
	}
}

async function startVue(page: Page) {
	// The app's log stream is a request that stays open: it would keep the network from ever going
	// idle, which is how this waits for the editor's code. Layout is the subject here, not logs.
	await page.route('**/api/sandbox/*/logs', (route) => route.fulfill({ status: 409, json: { message: 'not followed in this test' } }));
	await startSandbox(page, 'Vue + Vite');
	await expect(preview(page).getByRole('heading')).toHaveText('Hello from Vue in a sandbox', { timeout: 30_000 });
	await expect(page.getByRole('region', { name: 'Source files' })).toBeAttached();
	// The page has loaded all it will (the editor's code among it) before the visitor scrolls.
	await page.waitForLoadState('networkidle');
}

/** Scrolls to the editor as a visitor would, and checks what they see there, at once and once it settles. */
async function expectLineNumbersBesideTheirLines(page: Page) {
	expectBesideEachOther(await visibleLines(page, '[aria-label="Source files"]'));
	await expect(codeEditor(page, 'src/App.vue')).toBeVisible();
	const lines = await visibleLines(page);
	expect(lines.length).toBeGreaterThan(10);
	expectBesideEachOther(lines);
}

test.describe('on a phone', () => {
	test.use(PHONE);

	test('the ready view puts the preview first, the editor below, its line numbers beside their lines', async ({ page }) => {
		await startVue(page);
		await expectLineNumbersBesideTheirLines(page);
		// Still true after scrolling away and back.
		await page.evaluate(() => window.scrollTo(0, 0));
		expectBesideEachOther(await visibleLines(page, '.cm-editor'));

		const frame = (await page.locator('iframe').boundingBox())!;
		const editor = (await page.getByRole('region', { name: 'Source files' }).boundingBox())!;
		expect(frame.y + frame.height).toBeLessThanOrEqual(editor.y);
		// Both tall enough to use: at least half the screen each.
		expect(frame.height).toBeGreaterThanOrEqual(844 / 2);
		expect(editor.height).toBeGreaterThanOrEqual(844 / 2);
		expect(await smallTapTargets(page)).toEqual([]);
		expect(await pageScrollsSideways(page)).toBe(false);
	});

	test('the start page is finger-sized and does not scroll sideways at 360 px', async ({ page }) => {
		await page.setViewportSize({ width: 360, height: 740 });
		await page.goto('/');
		await expect(page.getByRole('button', { name: 'Start a sandbox' })).toBeVisible();
		expect(await smallTapTargets(page)).toEqual([]);
		expect(await pageScrollsSideways(page)).toBe(false);
	});
});

test.describe('on a desktop', () => {
	test.use(DESKTOP);

	test('the editor sits beside the preview, its line numbers beside their lines', async ({ page }) => {
		await startVue(page);
		await expectLineNumbersBesideTheirLines(page);
		const frame = (await page.locator('iframe').boundingBox())!;
		const editor = (await page.getByRole('region', { name: 'Source files' }).boundingBox())!;
		expect(editor.x + editor.width).toBeLessThanOrEqual(frame.x);
		expect(Math.abs(editor.y - frame.y)).toBeLessThanOrEqual(1);
		expect(await pageScrollsSideways(page)).toBe(false);
	});
});
