/** What the admin sections' OpenAPI descriptions share (http/openapi.ts): the form fields, the page's answers, the API's refusals. */
import { z } from 'zod';
import { type ApiResponse, errorResponse } from '../api/openapi';

export const AdminForm = z.object({
  csrf: z.string().meta({ description: 'The session’s CSRF token, from the admin page' }),
  formToken: z.string().meta({ description: 'The page’s form token' }),
});

/** The admin page's answers: HTML, with the result or the refusal shown on it. */
export const adminPageAnswers = (statuses: Record<number, string>): Partial<Record<number, ApiResponse>> => ({
  ...Object.fromEntries(Object.entries(statuses).map(([status, description]) => [status, { description, html: true }])),
  401: { description: 'No valid session: the login form', html: true },
  403: { description: 'Another site, a missing form token or a forged CSRF token', html: true },
});

export const adminApiRefusals = {
  401: {
    ...errorResponse('No or wrong admin password'),
    headers: { 'WWW-Authenticate': { description: 'Bearer realm="printhop admin"' } },
  },
  429: errorResponse('Too many wrong admin passwords from this address', { retryAfter: true }),
} satisfies Partial<Record<number, ApiResponse>>;

export const page = { tags: ['admin page'], auth: 'none' } as const;
export const api = { tags: ['admin'], auth: 'admin' } as const;
