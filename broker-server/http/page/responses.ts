/** The one answer to an accepted job: the job (API), its confirmation (htmx), or back to the page (a plain form). */
import type { Request, Response } from 'express';
import type { PrintJob } from '../../jobs/job-service';
import { isHtmx, isPlainForm } from '../guards/request-kind';
import { confirmation, freshKey } from './views';
import { sendJson } from '../api/json-answer';

/** A job is committed (and handed to the dispatcher): `201` with the job, its confirmation, or back to the page. */
/** `keyField`: the id of the sent form's Idempotency-Key field, renewed in htmx's answer. */
export function accepted(req: Request, res: Response, job: PrintJob, status = 201, keyField?: string): void {
  res.setHeader('Location', `/jobs/${job.id}`);
  if (isHtmx(req))
    res
      .status(status)
      .type('html')
      .send(confirmation(job).value + (keyField ? freshKey(keyField).value : ''));
  else if (isPlainForm(req)) res.redirect(303, `/?sent=${job.id}`);
  else sendJson(res, status, job);
}
