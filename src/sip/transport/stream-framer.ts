// Owns cutting a byte stream into messages (RFC 3261 §18.3): Content-Length frames each message,
// CRLF keep-alives between messages are skipped (RFC 5626 §3.5.1), and a size cap protects memory.
// Must not import anything outside src/sip.
import { findHeaderEnd } from '../parser';

export type FrameResult = { readonly frames: Buffer[]; readonly error?: string };

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/im;

export class StreamFramer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxSize: number) {}

  /** Adds received bytes; returns the complete messages now available, or an error after which the stream is unusable. */
  push(chunk: Buffer): FrameResult {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      this.skipKeepAlives();
      if (this.pending.length === 0) return { frames };
      const bounds = findHeaderEnd(this.pending);
      if (!bounds) {
        if (this.pending.length > this.maxSize) return { frames, error: 'header section exceeds the size limit' };
        return { frames };
      }
      const head = this.pending.subarray(0, bounds.headEnd).toString('latin1');
      const match = CONTENT_LENGTH.exec(head);
      const lengthText = match ? match[1].trim() : '0';
      if (!/^\d{1,10}$/.test(lengthText)) return { frames, error: 'Content-Length is not a non-negative integer' };
      const total = bounds.bodyStart + Number(lengthText);
      if (total > this.maxSize) return { frames, error: 'message exceeds the size limit' };
      if (this.pending.length < total) return { frames };
      frames.push(Buffer.from(this.pending.subarray(0, total)));
      this.pending = this.pending.subarray(total);
    }
  }

  private skipKeepAlives(): void {
    let i = 0;
    while (i < this.pending.length && (this.pending[i] === 13 || this.pending[i] === 10)) i++;
    if (i > 0) this.pending = this.pending.subarray(i);
  }
}
