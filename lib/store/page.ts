/**
 * Paged reads: one page of a list in a stable order and the cursor of the
 * next, so a reader (the console, a control API) never loads a whole table.
 *
 * @module
 */

/** Which page to read: after a cursor from a previous page (none: the first), at most `limit` items. */
export interface PageQuery {
  /** The `next` cursor of the previous page; absent for the first page. */
  after?: string | undefined;
  /** The most items returned, 1..{@linkcode MAX_PAGE_LIMIT}. */
  limit: number;
}

/** One page of a list: its items, and the cursor of the next page (`null` at the end). */
export interface Page<T> {
  /** The items, in the list's order. */
  items: T[];
  /** Pass as `after` to read the next page; `null` when this page is the last. */
  next: string | null;
}

/** The largest `limit` a store read accepts. */
export const MAX_PAGE_LIMIT = 1000;

/**
 * Reads one page through `rows(afterRowid, limit)`, which returns rows in
 * rowid order (rowid above `afterRowid`), at most `limit`.
 *
 * @throws {RangeError} When `limit` is not an integer 1..1000 or `after` is not a cursor.
 */
export function readPage<T>(
  query: PageQuery,
  rows: (afterRowid: number, limit: number) => { rowid: number; item: T }[],
): Page<T> {
  const { limit, after } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new RangeError(`Expected a page limit from 1 to ${MAX_PAGE_LIMIT}, got ${limit}`);
  }
  let from = 0;
  if (after !== undefined) {
    if (!/^\d{1,15}$/.test(after)) {
      throw new RangeError(`Invalid page cursor ${JSON.stringify(after.slice(0, 40))}`);
    }
    from = Number(after);
  }
  const got = rows(from, limit + 1);
  const items = got.slice(0, limit);
  return {
    items: items.map((r) => r.item),
    next: got.length > limit ? String(items.at(-1)!.rowid) : null,
  };
}
