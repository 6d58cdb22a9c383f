/**
 * Sets of TCP ports as sorted, disjoint, inclusive ranges: what the capture rules match on (captured and excluded
 * inbound ports, the ephemeral source-port range). Pure values; the renderers turn them into multiport / nft sets.
 */

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

export class PortSet {
  private constructor(readonly ranges: readonly PortRange[]) {}

  static readonly EMPTY = new PortSet([]);

  /** Builds a set from ports and ranges in any order; overlapping and adjacent ranges are merged. */
  static of(items: readonly (number | PortRange)[]): PortSet {
    const ranges = items
      .map((i) => (typeof i === 'number' ? { from: i, to: i } : i))
      .map((r) => {
        if (!isPort(r.from) || !isPort(r.to) || r.from > r.to) throw new RangeError(`invalid port range ${r.from}-${r.to}`);
        return r;
      })
      .sort((a, b) => a.from - b.from);
    const merged: PortRange[] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r.from <= last.to + 1) merged[merged.length - 1] = { from: last.from, to: Math.max(last.to, r.to) };
      else merged.push({ from: r.from, to: r.to });
    }
    return new PortSet(merged);
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** Number of ports in the set. */
  get size(): number {
    return this.ranges.reduce((n, r) => n + r.to - r.from + 1, 0);
  }

  has(port: number): boolean {
    return this.ranges.some((r) => port >= r.from && port <= r.to);
  }

  union(other: PortSet): PortSet {
    return PortSet.of([...this.ranges, ...other.ranges]);
  }

  /** The ports of this set that are not in `other`. */
  minus(other: PortSet): PortSet {
    let out: PortRange[] = [...this.ranges];
    for (const cut of other.ranges) {
      const next: PortRange[] = [];
      for (const r of out) {
        if (cut.to < r.from || cut.from > r.to) {
          next.push(r);
          continue;
        }
        if (cut.from > r.from) next.push({ from: r.from, to: cut.from - 1 });
        if (cut.to < r.to) next.push({ from: cut.to + 1, to: r.to });
      }
      out = next;
    }
    return PortSet.of(out);
  }

  intersect(other: PortSet): PortSet {
    return this.minus(this.minus(other));
  }

  equals(other: PortSet): boolean {
    return this.ranges.length === other.ranges.length && this.ranges.every((r, i) => r.from === other.ranges[i]!.from && r.to === other.ranges[i]!.to);
  }

  /** `15001,15006,32768-60999`: the form flags accept and documentation prints. */
  toString(): string {
    return this.ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(',');
  }
}

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
