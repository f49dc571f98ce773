/**
 * Tiny DOM helpers. Text always goes in through `textContent`, never
 * `innerHTML`, so token names and descriptions cannot inject markup.
 */

type Child = Node | string | null | undefined | false;

/** Creates an element with attributes (`class`, `aria-*`, `data-*`…) and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/** The element with this id, of the expected type; a missing one is a bug in index.html. */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`#${id} is missing or not a ${type.name}`);
  return node;
}

/** Shows a message in a status line, or clears it with an empty string. */
export function say(node: HTMLElement, text: string, tone: 'info' | 'error' | 'ok' = 'info'): void {
  node.textContent = text;
  node.dataset.tone = tone;
  node.hidden = text === '';
}
