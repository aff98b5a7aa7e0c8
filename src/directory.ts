// The partner's directory of reps, queues, flows and external contacts, held in memory. It is the
// default rep picker (availability + capacity, longest-idle first) and the source of the connector's
// getContacts() results. A partner with its own ACD passes `pickRep` instead and may still use the
// directory for contacts.
import type { Availability, ContactListType } from './domain/enums.js';
import type { PickRepRequest } from './domain/ports.js';

export interface DirectoryRep {
  userId: string;
  name: string;
  /** Queues this rep takes work from. */
  queueIds?: string[];
  /** Concurrent conversations the rep can hold (default 3). */
  capacity?: number;
  availability?: Availability;
  listType?: ContactListType;
}

export interface DirectoryQueue {
  queueId: string;
  name: string;
  listType?: ContactListType;
}

export interface DirectoryFlow {
  flowId: string;
  name: string;
  listType?: ContactListType;
}

/** A target outside the org: transfers only (Salesforce does not conference external contacts). */
export interface DirectoryExternal {
  id: string;
  name: string;
  phoneNumber?: string;
}

export interface DirectoryEntries {
  reps?: DirectoryRep[];
  queues?: DirectoryQueue[];
  flows?: DirectoryFlow[];
  externals?: DirectoryExternal[];
}

/** The Service Cloud Connector API `Contact` (reference §4), as getContacts returns it. */
export interface Contact {
  id: string;
  type: 'Agent' | 'Queue' | 'Flow' | 'PhoneBook';
  name: string;
  listType: ContactListType;
  availability: Availability | null;
  phoneNumber?: string;
  recordId?: string;
}

export interface ContactsRequest {
  listType: ContactListType;
  /** Reps already in the session: never listed. */
  present?: string[];
  /** For Conference: when the cap is reached, no rep, queue or flow is listed. */
  capReached?: boolean;
  contains?: string;
  limit?: number;
  offset?: number;
}

const DEFAULT_CAPACITY = 3;

export class Directory {
  readonly #reps = new Map<string, Required<Omit<DirectoryRep, 'listType'>> & { listType: ContactListType }>();
  readonly #queues: DirectoryQueue[];
  readonly #flows: DirectoryFlow[];
  readonly #externals: DirectoryExternal[];
  /** userId → conversations the rep holds or has been offered. */
  readonly #load = new Map<string, Set<string>>();
  /** userId → when the rep was last given work (longest idle is picked first). */
  readonly #lastAssigned = new Map<string, number>();

  constructor(entries: DirectoryEntries = {}) {
    for (const r of entries.reps ?? []) {
      this.#reps.set(r.userId, {
        userId: r.userId,
        name: r.name,
        queueIds: r.queueIds ?? [],
        capacity: r.capacity ?? DEFAULT_CAPACITY,
        availability: r.availability ?? 'AVAILABLE',
        listType: r.listType ?? 'All',
      });
    }
    this.#queues = entries.queues ?? [];
    this.#flows = entries.flows ?? [];
    this.#externals = entries.externals ?? [];
  }

  setAvailability(userId: string, availability: Availability): void {
    const rep = this.#reps.get(userId);
    if (rep) rep.availability = availability;
  }

  /** Count a conversation against a rep's capacity (an offer made, or the rep joined). */
  hold(userId: string, conversationIdentifier: string): void {
    let set = this.#load.get(userId);
    if (!set) this.#load.set(userId, (set = new Set()));
    set.add(conversationIdentifier);
  }

  /** The rep left the conversation, or the offer ended without them. */
  release(userId: string, conversationIdentifier: string): void {
    this.#load.get(userId)?.delete(conversationIdentifier);
  }

  load(userId: string): number {
    return this.#load.get(userId)?.size ?? 0;
  }

  /** The default picker: an available rep of the queue with room, longest idle first. */
  pickRep(req: PickRepRequest): string | undefined {
    const excluded = new Set(req.exclude);
    let best: { userId: string; idleSince: number } | undefined;
    for (const rep of this.#reps.values()) {
      if (rep.availability !== 'AVAILABLE' || excluded.has(rep.userId)) continue;
      if (req.queueId && !rep.queueIds.includes(req.queueId)) continue;
      if (this.load(rep.userId) >= rep.capacity) continue;
      const idleSince = this.#lastAssigned.get(rep.userId) ?? 0;
      if (!best || idleSince < best.idleSince) best = { userId: rep.userId, idleSince };
    }
    if (best) {
      this.#lastAssigned.set(best.userId, Date.now());
      this.hold(best.userId, req.conversationIdentifier);
    }
    return best?.userId;
  }

  /** getContacts() for the connector: filtered by list type, presence, availability and the conference cap. */
  contacts(req: ContactsRequest): Contact[] {
    const wanted = (listType: ContactListType) =>
      req.listType === 'All' || listType === 'All' || listType === req.listType;
    const present = new Set(req.present ?? []);
    const closedByCap = req.listType === 'Conference' && req.capReached === true;
    const out: Contact[] = [];
    if (!closedByCap) {
      for (const rep of this.#reps.values()) {
        if (!wanted(rep.listType) || present.has(rep.userId) || rep.availability === 'OFFLINE') continue;
        out.push({ id: rep.userId, type: 'Agent', name: rep.name, listType: rep.listType, availability: rep.availability, recordId: rep.userId });
      }
      for (const q of this.#queues) {
        const listType = q.listType ?? 'All';
        if (wanted(listType)) out.push({ id: q.queueId, type: 'Queue', name: q.name, listType, availability: null, recordId: q.queueId });
      }
      for (const f of this.#flows) {
        const listType = f.listType ?? 'All';
        if (wanted(listType)) out.push({ id: f.flowId, type: 'Flow', name: f.name, listType, availability: null, recordId: f.flowId });
      }
    }
    if (req.listType !== 'Conference') {
      for (const x of this.#externals) {
        out.push({ id: x.id, type: 'PhoneBook', name: x.name, listType: 'Transfer', availability: null, ...(x.phoneNumber ? { phoneNumber: x.phoneNumber } : {}) });
      }
    }
    const needle = req.contains?.toLowerCase();
    const matched = needle ? out.filter((c) => c.name.toLowerCase().includes(needle)) : out;
    const offset = req.offset ?? 0;
    return matched.slice(offset, offset + (req.limit ?? 50));
  }
}
