/**
 * Connected clients by key, with derper's duplicate-connection policy (derp.md §3.8,
 * `registerClient`/`unregisterClient`/`noteClientActivity`, "lastWriterIsActive"):
 * a second connection for a key does not kick the first; the newest becomes active; whichever
 * duplicate most recently sent becomes active again; when the active one leaves, the most
 * recent survivor takes over.
 */

/** What the registry needs to know about a connection. */
export interface RegisteredClient {
  readonly id: number;
}

/** All connections of one key, oldest first, and the one that receives traffic. */
export interface ClientSet<C extends RegisteredClient> {
  readonly conns: C[];
  active: C | undefined;
}

export class ClientRegistry<C extends RegisteredClient> {
  readonly #byKey = new Map<string, ClientSet<C>>();
  #dupKeys = 0;
  #dupConns = 0;

  get size(): number {
    return this.#byKey.size;
  }

  has(keyHex: string): boolean {
    return this.#byKey.has(keyHex);
  }

  get(keyHex: string): ClientSet<C> | undefined {
    return this.#byKey.get(keyHex);
  }

  values(): IterableIterator<ClientSet<C>> {
    return this.#byKey.values();
  }

  /** Adds a connection and makes it active; `duplicate` when the key already had one. */
  add(keyHex: string, c: C): { duplicate: boolean } {
    const set = this.#byKey.get(keyHex);
    if (!set) {
      this.#byKey.set(keyHex, { conns: [c], active: c });
      return { duplicate: false };
    }
    if (set.conns.length === 1) {
      this.#dupKeys++;
      this.#dupConns += 1;
    }
    this.#dupConns++;
    set.conns.push(c);
    set.active = c;
    return { duplicate: true };
  }

  /**
   * Removes a connection. Returns how many remain for the key and, when the active one left
   * and others remain, the newly active connection (the most recent survivor).
   */
  remove(keyHex: string, c: C): { remaining: number; newActive: C | undefined } {
    const set = this.#byKey.get(keyHex);
    if (!set) return { remaining: 0, newActive: undefined };
    const i = set.conns.indexOf(c);
    if (i < 0) return { remaining: set.conns.length, newActive: undefined };
    set.conns.splice(i, 1);
    if (set.conns.length === 0) {
      this.#byKey.delete(keyHex);
      return { remaining: 0, newActive: undefined };
    }
    this.#dupConns--;
    if (set.conns.length === 1) {
      this.#dupKeys--;
      this.#dupConns--;
    }
    if (set.active !== c) return { remaining: set.conns.length, newActive: undefined };
    set.active = set.conns[set.conns.length - 1];
    return { remaining: set.conns.length, newActive: set.active };
  }

  /** Last writer is active: a duplicate that sends becomes the one that receives. */
  noteActivity(keyHex: string, c: C): void {
    const set = this.#byKey.get(keyHex);
    if (set && set.conns.length > 1 && set.active !== c) set.active = c;
  }

  /** Keys with more than one connection, and the connections they hold. */
  duplicates(): { keys: number; conns: number } {
    return { keys: this.#dupKeys, conns: this.#dupConns };
  }
}
