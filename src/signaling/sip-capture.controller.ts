/**
 * GET /v1/calls/{callId}/sip: the SIP messages captured for a call (both legs, oldest first), the
 * data of the console's ladder diagram. Served from the shared store, so any node with the `api`
 * role answers for calls handled by any other.
 */
import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Roles } from '../auth/roles.decorator';
import { DomainError } from '../platform/problem';
import { ValidParam } from '../platform/validation';
import { SipCapture } from './sip-capture';

const CALL_ID = z.string().min(1).max(256);

const MESSAGE_SCHEMA = {
  type: 'object',
  required: ['at', 'direction', 'leg', 'transport', 'src', 'dst', 'method', 'status', 'summary', 'text'],
  properties: {
    at: { type: 'string', format: 'date-time', description: 'when the gateway received or sent it (ISO 8601, milliseconds)' },
    direction: { type: 'string', enum: ['in', 'out'], description: 'received by the gateway (in) or sent by it (out)' },
    leg: { type: 'string', enum: ['a', 'b'], nullable: true, description: "a: the caller's leg (its Call-ID is the call id); b: a leg the gateway placed (to a trunk or device)" },
    transport: { type: 'string', enum: ['udp', 'tcp', 'ws', 'wss', 'tls'] },
    src: { type: 'string', example: '127.0.0.1:5062', description: 'ip:port (IPv6 in brackets)' },
    dst: { type: 'string', example: '127.0.0.1:5060' },
    method: { type: 'string', nullable: true, example: 'INVITE', description: "a request's method; for a response, the method it answers (its CSeq)" },
    status: { type: 'integer', nullable: true, example: 200, description: "a response's status code; null for a request" },
    summary: { type: 'string', example: 'SIP/2.0 180 Ringing', description: 'the start line' },
    text: { type: 'string', description: 'the whole message as on the wire (cut at SIP_CAPTURE_MAX_MESSAGE_BYTES, marked)' },
  },
};

@ApiTags('calls')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/calls')
export class SipCaptureController {
  constructor(private readonly capture: SipCapture) {}

  @Get(':callId/sip')
  @ApiOperation({ summary: "A call's SIP messages (the ladder)", description: 'Every SIP message of the call, both legs, retransmissions and refusals included, oldest first; kept SIP_CAPTURE_RETENTION_HOURS. 404 when nothing was captured for that call id.' })
  @ApiParam({ name: 'callId', description: "the gateway's call id, as `callId` in CDRs and in GET /v1/calls (the caller's SIP Call-ID)" })
  @ApiOkResponse({ schema: { type: 'object', required: ['callId', 'messages'], properties: { callId: { type: 'string' }, messages: { type: 'array', items: MESSAGE_SCHEMA } } } })
  async ladder(@ValidParam('callId', CALL_ID) callId: string) {
    const messages = await this.capture.messages(callId);
    if (messages.length === 0) throw new DomainError('not_found', `no SIP messages captured for call ${callId} (none, or older than SIP_CAPTURE_RETENTION_HOURS)`);
    return { callId, messages };
  }
}
