/** The one thing CdrsService needs from the queue, so the rating rule can be tested without it. */
export const CDR_QUEUE_PORT = Symbol('CDR_QUEUE_PORT');

export interface CdrQueuePort {
  /** Adds one rating job per CDR id (the job id is the CDR id, so adding one twice adds it once). */
  enqueue(cdrIds: string[]): Promise<void>;
  /** Makes sure each CDR has a job that will run: adds lost ones, retries failed ones. */
  requeue(cdrIds: string[]): Promise<void>;
}
