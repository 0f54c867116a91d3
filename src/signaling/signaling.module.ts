/** The SIP endpoint (SipServer), shared by the modules that serve SIP methods, and the SIP capture behind the call ladders. */
import { Global, Module } from '@nestjs/common';
import { SipCapture, sipCaptureRedisProvider } from './sip-capture';
import { SipCaptureController } from './sip-capture.controller';
import { SipServer } from './sip-server';

@Global()
@Module({ controllers: [SipCaptureController], providers: [SipServer, SipCapture, sipCaptureRedisProvider], exports: [SipServer, SipCapture] })
export class SignalingModule {}
