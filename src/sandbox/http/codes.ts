// The Interaction Service's error codes and texts (Salesforce ERRORCODES.md), the HTTP status
// each gets (UNCONFIRMED in the reference; see the header of ../http-server.ts), and the two error
// body shapes.

export const MESSAGES: Record<number, string> = {
  10001: 'The AuthorizationContext in the request isn\'t valid for the provided value in the "to"/"channelAddressIdentifier" field.',
  10004: 'The supplied Authorization access token is not valid.',
  10007: 'The file ID field is empty.',
  10008: 'The file size exceeds the maximum limit of 25 MB.',
  10009: 'The file is empty or doesn’t exist.',
  10010: 'The interaction contentLength field is empty.',
  10011: 'The number of interactions of type AttachmentInteraction does not match the number of attachment files.',
  10012: 'Enter a valid workItemId for the MessagingSession ID.',
  10013: 'Enter either a capacityPercentage or a capacityWeight, but not both.',
  10014: 'Enter a capacity weight greater than or equal to 0.',
  10015: 'Enter a capacity percentage between 0 and 100, inclusive.',
  10016: 'Enter a valid header.',
  10018: 'The conversation identifier is not valid.',
  10020: 'The endUserClientId provided is not valid.',
  10021: 'Enter a valid Consent Status Enum value.',
  10024: 'For Flow based Routing, flow ID and Fallback Queue ID are required fields.',
  10027: 'The provided "to" field isn\'t valid.',
  10028: 'The provided "from" field isn\'t valid.',
  10029: "The provided interaction list isn't valid.",
  10030: 'Specify either a flow or a queue to Route API.',
  10032: 'Specified Queue ID is invalid.',
  10033: 'Should not pass in error message when routing result success.',
  10034: 'Error message missing when routing result false.',
  10037: 'The AppType provided is not supported.',
  10038: 'The Participant Role provided is not supported.',
  10039: 'Add participants to your conversation.',
  10045: 'Provide a valid message entry format.',
  10047: 'Specified Message Type is invalid.',
  10048: 'Specified Format Type is invalid.',
  10051: 'The file size (in bytes) of uploaded attachment is incorrect.',
  10054: 'Invalid subject of participant in conversation request.',
  10059: 'Interaction ID or Message ID is empty.',
  10060: 'Interaction ID and Message ID are mismatched.',
  10062: 'Invalid message type. Only StaticContentMessage, ChoicesResponseMessage, and FormResponseMessage types are supported for messages sent from an end user.',
  10069: 'Specify a valid channel address identifier or check your authorization configuration.',
  10071: 'Specify a valid session ID.',
  10075: "Your Salesforce org isn't ready to use the Routing API with conferencing. Upgrade to the latest version or set the routingType to Initial or Transfer.",
  10076: "Your Salesforce org isn't ready to use the Delete Route API with cancel reason. Upgrade to the latest version or remove cancelReason from the payload.",
  10077: "Your Salesforce org isn't ready to use the Agent Work API with agent action as conference. Upgrade to the latest version or set the agentAction to Transfer.",
  10082: 'Invalid workId: Please provide a valid workId.',
  10083: 'Invalid context type: The context type provided is not supported or is invalid.',
  10084: 'Invalid botId: Please provide a valid botId.',
  10085: 'Invalid status: Please provide a valid status.',
  10089: 'Invalid parameters passed to API.',
  10093: 'Invalid authorization context type.',
  10095: 'The MIME type of the uploaded file cannot be determined. Please check the file and try again.',
  10096: 'The channel variable value length in routing attribute payload is larger than the maximum length configured in Messaging Channel setup page.',
  10100: 'The request body is empty.',
  15106: 'Enter a valid userId.',
  15110: 'Enter a valid workItemId.',
  500: 'An internal server error occured. Please contact Salesforce Support.',
};

/** HTTP status for an Interaction API code (UNCONFIRMED in the reference; see the header comment). */
export function statusForCode(code: number): number {
  if (code === 10004) return 401;
  if (code === 10094) return 503;
  if (code === 500 || (code >= 20000 && code < 30000)) return 500;
  return 400;
}

export class HttpFail extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Plain `{code,message}` regardless of the endpoint (gateway answers). */
    readonly plain = false,
  ) {
    super(message);
  }
}

export function fail(code: number, detail?: string): never {
  const text = MESSAGES[code] ?? `Error ${code}.`;
  throw new HttpFail(statusForCode(code), code, detail ? `${text} (${detail})` : text);
}

export type ErrorShape = 'error' | 'detail';

export function errorBody(shape: ErrorShape, code: number, message: string): Record<string, unknown> {
  return shape === 'detail' ? { success: false, errorDetail: { code, message } } : { code, message };
}

/** The org applied the call; its answer is lost: the connection is reset (recorded with what the org answered). */
