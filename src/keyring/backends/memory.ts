import { MemoryExternalStore } from '../external.js';
import type { Item } from '../item.js';
import { byteOrder, type ItemStore, type Storage, type StorageBackend } from '../store.js';

/** arkeod's `memory` backend: items in this process only, gone when it exits. */
export class MemoryItemStore implements ItemStore {
  readonly location = 'memory';
  private readonly items = new Map<string, Uint8Array>();
  async keys(): Promise<string[]> {
    return [...this.items.keys()].sort(byteOrder);
  }
  async get(key: string): Promise<Item | undefined> {
    const data = this.items.get(key);
    return data ? { key, data: data.slice() } : undefined;
  }
  async set(item: Item): Promise<void> {
    this.items.set(item.key, item.data.slice());
  }
  async remove(key: string): Promise<void> {
    this.items.get(key)?.fill(0);
    this.items.delete(key);
  }
}

export const memoryBackend: StorageBackend = {
  name: 'memory',
  description: 'this process only (nothing is written)',
  open(): Storage {
    return {
      items: new MemoryItemStore(),
      externals: new MemoryExternalStore(),
      location: 'memory',
      describe: (key) => `memory:${key}`,
      requireExisting: () => {},
    };
  },
};
