// Owns the limits on stream connections (TCP today, WebSocket later): how many one IP address may
// hold open at once, and how long a connection may stay silent before it is closed. It knows
// nothing of sockets: a transport asks for a lease when a peer connects, touches it on every
// read, and releases it on close; the lease calls back when the connection has been idle too long.
// Trusted addresses (trunks) are exempt from the per-IP cap, not from the idle timeout.
// Must not import anything outside src/sip.

export interface ConnectionGuardOptions {
  /** Connections one IP may hold open; 0 means unlimited. */
  readonly maxPerIp: number;
  /** Close a connection after this long without a byte received; 0 means never. */
  readonly idleMs: number;
  readonly isTrusted?: (address: string) => boolean;
}

/** One admitted connection. */
export class ConnectionLease {
  private timer?: NodeJS.Timeout;
  private released = false;

  constructor(
    private readonly guard: ConnectionGuard,
    readonly address: string,
    readonly counted: boolean,
    idleMs: number,
    onIdle: () => void,
  ) {
    if (idleMs > 0) {
      this.timer = setTimeout(onIdle, idleMs);
      // An idle timer must not keep the process alive on its own.
      this.timer.unref();
    }
  }

  /** Bytes arrived: the idle clock starts again. */
  touch(): void {
    this.timer?.refresh();
  }

  /** The connection closed; safe to call more than once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.counted) this.guard.forget(this.address);
  }
}

export class ConnectionGuard {
  private readonly perIp = new Map<string, number>();

  constructor(private readonly options: ConnectionGuardOptions) {}

  /**
   * A lease for a connection from this address, or undefined when the address already holds its
   * share (the caller closes the connection). `counted` false skips the cap: connections the
   * gateway opened itself, to a trunk, are not a peer's to exhaust.
   */
  admit(address: string, onIdle: () => void, counted = true): ConnectionLease | undefined {
    const count = counted && !(this.options.isTrusted?.(address) ?? false);
    if (count) {
      const held = this.perIp.get(address) ?? 0;
      if (this.options.maxPerIp > 0 && held >= this.options.maxPerIp) return undefined;
      this.perIp.set(address, held + 1);
    }
    return new ConnectionLease(this, address, count, this.options.idleMs, onIdle);
  }

  /** Connections now held by this address (counted ones). */
  held(address: string): number {
    return this.perIp.get(address) ?? 0;
  }

  /** @internal A counted lease was released. */
  forget(address: string): void {
    const held = (this.perIp.get(address) ?? 1) - 1;
    if (held <= 0) this.perIp.delete(address);
    else this.perIp.set(address, held);
  }
}
