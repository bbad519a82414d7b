export function label(n: number): string {
  return n === 1 ? 'cold (first on this instance)' : `warm (#${n})`;
}
