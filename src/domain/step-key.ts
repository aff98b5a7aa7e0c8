// A step key names one Interaction Service step of one routing request: `<conversation>/<routing>/<step>`.
// Its RequestId is derived from it (stableRequestId), the journal records the step under it, and the
// in-doubt rules read the conversation and the routing back out of it. Built and read only here.

export function stepKey(conversationIdentifier: string, routingId: string, step: string): string {
  return `${conversationIdentifier}/${routingId}/${step}`;
}

/** The conversation a step key (or any `<conversation>/…` call key) belongs to. */
export function conversationOfKey(key: string): string {
  return key.slice(0, key.indexOf('/'));
}

/** The routing request a step key belongs to. */
export function routingOfKey(key: string): string | undefined {
  return key.split('/')[1];
}
