/**
 * The few browser APIs the console page uses, typed locally so that the
 * page type-checks with the rest of the project without pulling the whole
 * `dom` library into every file's globals.
 *
 * @module
 */

/** An element of the page (inputs and selects included). */
export interface El {
  /** Text content. */
  textContent: string | null;
  /** Inner HTML. */
  innerHTML: string;
  /** Class attribute. */
  className: string;
  /** Inline style. */
  style: Record<string, string>;
  /** `data-*` attributes. */
  dataset: Record<string, string | undefined>;
  /** An input's or select's value. */
  value: string;
  /** Whether a radio or checkbox input is checked. */
  checked: boolean;
  /** Child elements. */
  children: { length: number };
  /** Last child element. */
  lastElementChild: El | null;
  /** Appends nodes. */
  append(...nodes: (El | string)[]): void;
  /** Prepends nodes. */
  prepend(...nodes: (El | string)[]): void;
  /** Replaces the children. */
  replaceChildren(...nodes: El[]): void;
  /** Removes the element. */
  remove(): void;
  /** First descendant matching a selector. */
  querySelector(selector: string): El | null;
  /** Listens to an event. */
  addEventListener(type: string, fn: () => void): void;
}

/** An IndexedDB request. */
export interface IdbRequest<T> {
  /** The result. */
  readonly result: T;
  /** The error. */
  readonly error: unknown;
  /** Called on success. */
  onsuccess: (() => void) | null;
  /** Called on error. */
  onerror: (() => void) | null;
  /** Called when the database needs its stores. */
  onupgradeneeded?: (() => void) | null;
}

/** An IndexedDB object store. */
export interface IdbStore {
  /** Reads a value. */
  get(key: string): IdbRequest<unknown>;
  /** Writes a value. */
  put(value: unknown, key: string): IdbRequest<unknown>;
}

/** An IndexedDB transaction. */
export interface IdbTransaction {
  /** A store of it. */
  objectStore(name: string): IdbStore;
  /** Called when committed. */
  oncomplete: (() => void) | null;
  /** Called on error. */
  onerror: (() => void) | null;
  /** The error. */
  readonly error: unknown;
}

/** An IndexedDB database. */
export interface IdbDatabase {
  /** Starts a transaction. */
  transaction(store: string, mode?: "readonly" | "readwrite"): IdbTransaction;
  /** Creates a store. */
  createObjectStore(name: string): IdbStore;
}

/** A server-sent events stream. */
export interface EventStream {
  /** Listens to one event type. */
  addEventListener(type: string, fn: (m: { data: string }) => void): void;
}

/** The browser globals the page uses. */
export interface Dom {
  /** The document. */
  document: {
    body: El;
    getElementById(id: string): El | null;
    querySelector(selector: string): El | null;
    createElement(tag: string): El;
  };
  /** The page's location. */
  location: { search: string };
  /** IndexedDB. */
  indexedDB: { open(name: string, version: number): IdbRequest<IdbDatabase> };
  /** Server-sent events. */
  EventSource: new (url: string) => EventStream;
}

/** The browser's globals, typed by {@linkcode Dom}. */
export const dom: Dom = globalThis as unknown as Dom;
