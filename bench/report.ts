/**
 * The shape every benchmark section returns, and the table printer used by
 * `deno task bench`. Each figure is reported next to a baseline measured in
 * the same run, as a ratio: absolute times drift on shared machines,
 * ratios much less.
 *
 * @module
 */

/** One measured figure and its same-run baseline. */
export interface BenchRow {
  /** What was measured, e.g. `"bulk 64 KiB"`. */
  name: string;
  /** The measured value. */
  value: number;
  /** Its unit, e.g. `"MB/s"`, `"msg/s"`, `"us"`. */
  unit: string;
  /** The baseline's name, e.g. `"Deno TLS"`. */
  baseline: string;
  /** The baseline's value in the same unit. */
  baselineValue: number;
  /**
   * `value / baselineValue` for "more is better" figures, or
   * `baselineValue / value` for "less is better" ones (latency), so that a
   * ratio above 1 always means "better than the baseline".
   */
  ratio: number;
  /** The goal, in words, e.g. `"ratio >= 1"`. */
  goal?: string;
}

/** A titled group of rows. */
export interface BenchSection {
  /** Section title, e.g. `"RTT vs Deno TCP/TLS"`. */
  section: string;
  /** Its rows. */
  rows: BenchRow[];
  /** Lines printed under the table (what a row's figure does not say: refusal codes, drops). */
  notes?: string[];
}

function _fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

/**
 * Renders sections as plain-text tables.
 *
 * @param sections The sections to print.
 * @returns The table text.
 */
export function formatSections(sections: BenchSection[]): string {
  const out: string[] = [];
  for (const s of sections) {
    out.push(`\n## ${s.section}\n`);
    const header = ["figure", "value", "unit", "baseline", "baseline value", "ratio", "goal"];
    const lines = s.rows.map((r) => [
      r.name,
      _fmt(r.value),
      r.unit,
      r.baseline,
      _fmt(r.baselineValue),
      _fmt(r.ratio),
      r.goal ?? "",
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const row = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
    out.push(row(header), row(widths.map((w) => "-".repeat(w))), ...lines.map(row));
    if (s.notes !== undefined && s.notes.length > 0) out.push("", ...s.notes.map((n) => `- ${n}`));
  }
  return out.join("\n");
}
