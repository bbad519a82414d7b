/**
 * Kafka's default partitioner for keyed records: murmur2 of the key bytes, made positive, modulo the
 * partition count (the Java client's and kafkajs' DefaultPartitioner). The embedded log uses it so a
 * key lands on the same partition number as it would on Kafka.
 */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = ((data[i4] as number) & 0xff) | (((data[i4 + 1] as number) & 0xff) << 8) | (((data[i4 + 2] as number) & 0xff) << 16) | (((data[i4 + 3] as number) & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & ~3;
  switch (length % 4) {
    case 3:
      h ^= ((data[tail + 2] as number) & 0xff) << 16;
    // falls through
    case 2:
      h ^= ((data[tail + 1] as number) & 0xff) << 8;
    // falls through
    case 1:
      h ^= (data[tail] as number) & 0xff;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

export function partitionForKey(key: Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}
