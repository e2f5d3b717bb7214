/**
 * CodeMirror 6, set up for the source editor. Browser-only, and imported
 * lazily by CodeEditor.svelte, so the page stays light until an editor shows.
 */
import { css } from '@codemirror/lang-css';
import { html } from '@codemirror/lang-html';
import { javascript } from '@codemirror/lang-javascript';
import { vue } from '@codemirror/lang-vue';
import { EditorState, type Extension } from '@codemirror/state';
import { keymap } from '@codemirror/view';
import { basicSetup, EditorView } from 'codemirror';

export interface EditorOptions {
	parent: HTMLElement;
	doc: string;
	/** The file's path: its extension picks the highlighting. */
	path: string;
	/** The accessible name of the editing area. */
	label: string;
	onchange(doc: string): void;
	/** Ctrl-S / Cmd-S. */
	onsave(): void;
}

function language(path: string): Extension {
	const extension = path.slice(path.lastIndexOf('.')).toLowerCase();
	switch (extension) {
		case '.vue':
			return vue();
		case '.js':
		case '.mjs':
		case '.jsx':
			return javascript({ jsx: extension === '.jsx' });
		case '.ts':
		case '.tsx':
			return javascript({ typescript: true, jsx: extension === '.tsx' });
		case '.html':
		case '.svg':
			return html();
		case '.css':
			return css();
		default:
			return [];
	}
}

export function createEditor({ parent, doc, path, label, onchange, onsave }: EditorOptions): EditorView {
	return new EditorView({
		parent,
		doc,
		extensions: [
			// Before basicSetup, so that Mod-s saves instead of reaching the browser's "Save page".
			keymap.of([{ key: 'Mod-s', preventDefault: true, run: () => (onsave(), true) }]),
			basicSetup,
			language(path),
			// The templates indent with tabs.
			EditorState.tabSize.of(2),
			EditorView.contentAttributes.of({ 'aria-label': label }),
			EditorView.updateListener.of((update) => {
				if (update.docChanged) onchange(update.state.doc.toString());
			})
		]
	});
}
