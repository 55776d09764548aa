/** The event streams: the page's HTML updates and every job and printer change as JSON (`event: job` / `event: printer`), for API clients and the benchmark. */
import type { Router } from 'express';
import { z } from 'zod';
import { ApiError } from './api-schemas';
import { LastEventId, StatusFilter } from './job-event-stream';
import type { ApiOperation } from './openapi';
import { newRouter, type RouteContext } from './context';

export function eventRoutes(ctx: RouteContext): Router {
  const router = newRouter();
  router.get('/events', ctx.streamLimits.middleware, ctx.live.handle);
  router.get('/jobs/events', ctx.requireApiKey, ctx.streamLimits.middleware, ctx.live.handleJson);
  return router;
}

const streamRefusals = {
  429: {
    description: 'Too many open streams from this address (MAX_EVENT_STREAMS_PER_ADDRESS)',
    text: 'text/plain',
    headers: { 'Retry-After': { description: 'Seconds to wait' } },
  },
  503: {
    description: 'Too many open streams on this server (MAX_EVENT_STREAMS), or shutting down',
    text: 'text/plain',
    json: ApiError,
  },
} satisfies ApiOperation['responses'];

/** How GET /openapi.json describes these routes (http/api/openapi.ts). */
export const eventOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/jobs/events',
    operationId: 'jobEvents',
    summary: 'Every job and printer change, as server-sent events',
    description:
      '`event: job` with a Job as `data` and the `id:` of that change in the event log (ids grow in commit order); ' +
      '`event: printer` with a Printer (no id); comments (`: ping`) keep the connection alive. The first message ' +
      'carries the current id. With `Last-Event-ID` (or `?lastEventId=`), the job changes after that id are sent ' +
      "first, from the database, then the live ones; past the log's window (EVENT_REPLAY_HOURS), for an id the " +
      'server never gave, or once a replay has sent EVENT_REPLAY_MAX_BYTES, one `event: resync` ' +
      '(`{"reason", "lastEventId", "reread": "/jobs", "detail"}`) says to re-read GET /jobs, and the stream goes ' +
      'on from now. A replay goes at the pace the client reads; each caller may start EVENT_REPLAYS_PER_MINUTE. ' +
      'With `?status=`, only the job changes to those statuses are sent, live and replayed; the ids of the others ' +
      'are skipped, so `Last-Event-ID` is the last change this stream sent.',
    tags: ['events'],
    auth: 'apiKey',
    query: z.object({ lastEventId: LastEventId.optional(), status: StatusFilter.optional() }),
    headers: z.object({ 'Last-Event-ID': LastEventId.optional() }),
    responses: {
      200: { description: 'The stream', events: true },
      400: {
        description: 'A Last-Event-ID that is not a whole number, or a status that is not a job status',
        json: ApiError,
      },
      ...streamRefusals,
      429: {
        ...streamRefusals[429],
        description:
          'Too many open streams from this address (MAX_EVENT_STREAMS_PER_ADDRESS), or too many replays from this caller (EVENT_REPLAYS_PER_MINUTE, EVENT_REPLAY_BURST)',
      },
    },
  },
  {
    method: 'get',
    path: '/events',
    operationId: 'pageEvents',
    summary: 'The page’s live updates (HTML fragments for htmx, as server-sent events)',
    tags: ['page'],
    auth: 'apiKeyOptional',
    responses: { 200: { description: 'The stream', events: true }, ...streamRefusals },
  },
];
