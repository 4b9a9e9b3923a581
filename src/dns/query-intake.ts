/**
 * The first look at a client query, before any routing (RFC 1035 §4.1, RFC 6891 §6.1.3):
 * drop what is not a query, answer at once what cannot be served (FORMERR, NOTIMP, BADVERS,
 * REFUSED for zone transfers and for clients the access rules refuse), and hand everything else
 * on as a parsed message plus the client's view of it. Pure; `bytes` is only borrowed.
 */
import { FLAG_QR, HEADER_BYTES, OPCODE_MASK, Rcode, RrType, parseMessage, type ParsedMessage } from './message.js';
import { buildErrorResponse, udpLimitFor, type ClientView } from './response.js';
import type { ClientTransport } from './forwarder-types.js';

export type QueryIntake =
  /** Not a query at all (no header, or a response): no answer (never answer answers). */
  | { readonly type: 'drop' }
  /** Answered here; `formerr` for the counters, `route` is the label the metrics see. */
  | { readonly type: 'reply'; readonly msg: ParsedMessage | undefined; readonly bytes: Uint8Array; readonly route: 'none' | 'refused'; readonly formerr: boolean }
  | { readonly type: 'query'; readonly msg: ParsedMessage; readonly view: ClientView };

/** Classifies one client datagram or TCP message; `refused`: the edge's access rules say so. */
export function admitQuery(bytes: Uint8Array, transport: ClientTransport, refused: boolean): QueryIntake {
  const p = parseMessage(bytes, true);
  if (!p.ok) {
    if (p.id === undefined || p.flags === undefined || (p.flags & FLAG_QR) !== 0) return { type: 'drop' };
    return { type: 'reply', msg: undefined, bytes: buildErrorResponse({ id: p.id, flags: p.flags }, Rcode.FORMERR), route: 'none', formerr: true };
  }
  const msg = p.msg;
  if ((msg.flags & FLAG_QR) !== 0) return { type: 'drop' };
  const view: ClientView = {
    id: msg.id, flags: msg.flags, question: bytes.subarray(HEADER_BYTES, msg.questionEnd), edns: msg.edns,
    maxBytes: transport === 'udp' ? udpLimitFor(msg.edns) : undefined,
  };
  const reply = (out: Uint8Array, route: 'none' | 'refused' = 'none', formerr = false): QueryIntake => ({ type: 'reply', msg, bytes: out, route, formerr });
  if (refused) return reply(buildErrorResponse(view, Rcode.REFUSED), 'refused');
  if ((msg.flags & OPCODE_MASK) !== 0) return reply(buildErrorResponse(view, Rcode.NOTIMP));
  if (msg.qdcount !== 1 || msg.questionCompressed) return reply(buildErrorResponse({ id: msg.id, flags: msg.flags }, Rcode.FORMERR), 'none', true);
  if (msg.edns && msg.edns.version > 0) return reply(buildErrorResponse(view, Rcode.NOERROR, 1)); // BADVERS
  if (msg.qtype === RrType.AXFR || msg.qtype === RrType.IXFR) return reply(buildErrorResponse(view, Rcode.REFUSED));
  return { type: 'query', msg, view };
}
