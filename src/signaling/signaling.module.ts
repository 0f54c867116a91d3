/** The SIP endpoint (SipServer), shared by the modules that serve SIP methods. */
import { Global, Module } from '@nestjs/common';
import { SipServer } from './sip-server';

@Global()
@Module({ providers: [SipServer], exports: [SipServer] })
export class SignalingModule {}
