// Admitting a new socket: the allow list, the connection caps (in all and per address), why one was refused.
import type { AllowList } from './access.js';

/** Why a connection was closed as soon as it arrived. */
export type RefusalReason =
  | 'not-allowed'
  | 'too-many-connections'
  | 'too-many-from-address'
  | 'proxy-header'
  | 'tls-handshake';

export interface Refusal {
  reason: RefusalReason;
  /** For the log: `refused 10.0.0.7:50123: ...`. */
  text: string;
}

export interface AdmissionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  allowList: AllowList | undefined;
}

/**
 * Who may connect, and how many are in: every accepted socket holds a place from the moment it is
 * accepted until it is released (its connection has ended, or the socket closed), whatever it
 * is waiting for (a TLS handshake, a PROXY header, the next message).
 */
export class Admission {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: AdmissionLimits) {}

  /** Places held now. */
  get count(): number {
    return this.total;
  }

  /**
   * Takes a place for a new socket. `address`: the client's, when it is known now (not behind a
   * PROXY header, whose client is known only once the header is read: see `Place.identify`).
   */
  enter(remote: string, address: string | undefined): Place | Refusal {
    if (this.total >= this.limits.maxConnections) {
      return {
        reason: 'too-many-connections',
        text: `refused ${remote}: ${this.limits.maxConnections} connections are open, the limit`,
      };
    }
    const place = new Place(this);
    this.total++;
    if (address !== undefined) {
      const refusal = place.identify(remote, address);
      if (refusal) return refusal;
    }
    return place;
  }

  /** @internal Checks the allowlist and the per-address cap for a place's client, and counts it. */
  claim(remote: string, address: string): Refusal | undefined {
    const { allowList, maxConnectionsPerAddress } = this.limits;
    if (allowList && !allowList.allows(address)) {
      return {
        reason: 'not-allowed',
        text: `refused ${remote}: not in the allowlist (${allowList.ranges.join(', ')})`,
      };
    }
    const perAddress = this.byAddress.get(address) ?? 0;
    if (perAddress >= maxConnectionsPerAddress) {
      return {
        reason: 'too-many-from-address',
        text: `refused ${remote}: ${perAddress} connections from ${address} are open, the limit per address`,
      };
    }
    this.byAddress.set(address, perAddress + 1);
    return undefined;
  }

  /** @internal */
  leave(address: string | undefined): void {
    this.total--;
    if (address === undefined) return;
    const left = (this.byAddress.get(address) ?? 1) - 1;
    if (left > 0) this.byAddress.set(address, left);
    else this.byAddress.delete(address);
  }
}

/** One socket's place; `release` gives it back (once, however often it is called). */
export class Place {
  private address: string | undefined;
  private released = false;

  constructor(private readonly admission: Admission) {}

  /** Names the client (the socket's peer, or the one its PROXY header names); a refusal gives the place back. */
  identify(remote: string, address: string): Refusal | undefined {
    const refusal = this.admission.claim(remote, address);
    if (refusal) this.release();
    else this.address = address;
    return refusal;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.admission.leave(this.address);
  }
}
