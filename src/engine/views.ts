// What the app may read of a session — copies, so it can never reach into a live actor's context —
// and the contact list the connector's getContacts() shows a rep for one conversation.
import type { ContactListType } from '../domain/enums.js';
import type { Contact, Directory } from '../directory.js';
import { occupiedSeats } from '../machines/session.js';
import { checkGetContacts } from '../public-input.js';
import type { SessionState } from './registry.js';
import type { SessionView } from './types.js';

export function viewOf(snapshot: SessionState): SessionView {
  const c = snapshot.context;
  const view: SessionView = {
    conversationIdentifier: c.conversationIdentifier,
    state: typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value),
    reps: Object.values(c.reps).map((r) => ({ ...r })),
    // Without `slot`: how the engine names the routing's child is not the app's business.
    pendingRoutings: Object.values(c.routings).map(({ slot: _slot, ...r }) => r),
    transfers: c.transfers.map((t) => ({ ...t, to: [...t.to] })),
    participantCap: c.settings.participantCap,
    seatsTaken: occupiedSeats(c),
  };
  if (c.channelAddressIdentifier) view.channelAddressIdentifier = c.channelAddressIdentifier;
  if (c.endUserClientId) view.endUserClientId = c.endUserClientId;
  if (c.workItemId) view.workItemId = c.workItemId;
  return view;
}

/** getContacts() for the connector: reps not present and available, queues, flows, externals for transfers. */
export function contactsFor(
  directory: Directory,
  session: SessionState | undefined,
  conversationIdentifier: unknown,
  requestedList: unknown,
  requestedFilter: unknown,
  maxIdLength: number,
): Contact[] {
  const { listType, filter } = checkGetContacts(conversationIdentifier, requestedList, requestedFilter, maxIdLength);
  const ctx = session?.context;
  return directory.contacts({
    listType: listType satisfies ContactListType,
    present: ctx ? Object.keys(ctx.reps) : [],
    capReached: ctx ? occupiedSeats(ctx) >= ctx.settings.participantCap : false,
    ...filter,
  });
}
