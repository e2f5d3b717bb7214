/**
 * The templates a visitor can start: one folder each in sandbox/templates/, gathered by
 * sandbox/catalog.ts (see manifest.ts for what a folder's template.json says). Their dependencies
 * are installed ahead of time (by `npm install` locally, at image build time on Cloudflare) and
 * every sandbox has them at /templates/{id}.
 */
import * as v from 'valibot';
import { catalog } from './catalog.generated';
import type { Template } from './manifest';

export type { Template } from './manifest';

export const templates: readonly Template[] = catalog;

/** The template with this ID, if there is one. */
export function templateOf(id: string): Template | undefined {
	return templates.find((template) => template.id === id);
}

/** A form's or a caller's template choice: one of the catalog's IDs. */
export const TemplateChoice = v.picklist(
	templates.map((template) => template.id),
	'Choose one of the offered templates'
);

/** What the start page shows of each template. */
export interface TemplateOffer {
	id: string;
	label: string;
	description: string;
}

export const offers: TemplateOffer[] = templates.map(({ id, label, description }) => ({ id, label, description }));
