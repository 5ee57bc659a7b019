/** One benchmark row: what was measured, the figure, and the target it is held to. */
export interface BenchRow {
  readonly section: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** Human-readable target, e.g. '<= 5 ms/GiB'; omitted when the row is informational. */
  readonly target?: string;
  /** Whether the figure meets the target; undefined when there is none. */
  readonly ok?: boolean;
}

export type Reporter = (row: BenchRow) => void;

/** A bench section: runs its measurements and reports each row as it is made. */
export type BenchSection = (report: Reporter) => Promise<void>;
