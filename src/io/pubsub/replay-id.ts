// Replay ids are opaque bytes: Salesforce asks clients to store and resend them unchanged. We carry
// them as hex strings inside the machine (snapshots stay JSON) and as Buffers on the wire and in the
// cursor store. Salesforce's are 8-byte big-endian integers today; only logs and the sandbox rely on that.

export function replayIdToHex(replayId: Uint8Array | null | undefined): string {
  return replayId && replayId.length > 0 ? Buffer.from(replayId).toString('hex') : '';
}

export function hexToReplayId(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

/** An 8-byte big-endian replay id, as Salesforce issues them. */
export function encodeReplayId(value: bigint | number): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(value));
  return buf;
}

/** The integer behind an 8-byte replay id, or undefined for any other shape (pozil#50: never assume). */
export function decodeReplayId(replayId: Uint8Array | null | undefined): bigint | undefined {
  if (!replayId || replayId.length !== 8) return undefined;
  return Buffer.from(replayId).readBigUInt64BE(0);
}
