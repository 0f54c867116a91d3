/** Time-ordered ids (UUIDv7, RFC 9562): index-friendly and usable as keyset cursors. */
import { v7 } from 'uuid';

export const newId = (): string => v7();
