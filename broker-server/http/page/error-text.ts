/** What the page says, in French, when a request is refused (the API says it in English: http/guards/errors.ts). */
import { JobError, ReceiptTooLongError, UnknownPrinterError } from '../../jobs/job-errors';
import { HttpError, type PageErrors } from '../guards/errors';
import { frenchNumber } from '../api/validation';
import { errorMessage } from './views';

/** What the page says when the server's disk refuses the job. */
const STORAGE_FULL_FR =
  'Le serveur ne peut pas enregistrer la tâche : son disque est plein. Elle n’a pas été enregistrée ; réessayez dans un moment.';

export function pageErrors(bodyLimitBytes: number): PageErrors {
  return {
    message: (err, status, storageFull) => (storageFull ? STORAGE_FULL_FR : pageMessage(err, status, bodyLimitBytes)),
    fragment: (message) => errorMessage(message).value,
  };
}

/** The French the page shows for a refused request. */
function pageMessage(err: unknown, status: number, bodyLimit: number): string {
  if (err instanceof HttpError && err.messageFr) return err.messageFr;
  if (err instanceof JobError) return jobMessage(err);
  if ((err as { type?: string }).type === 'utf8.invalid') return 'Le message contient des caractères invalides.';
  switch (status) {
    case 404:
      return 'Cette adresse n’existe pas.';
    case 413:
      return `Le message est trop volumineux (plus de ${frenchNumber(bodyLimit)} octets).`;
    case 415:
      return 'Le formulaire n’a pas été envoyé dans un format attendu.';
    default:
      return status >= 500 ? 'Erreur du serveur ; réessayez dans un instant.' : 'La demande a été refusée.';
  }
}

function jobMessage(err: JobError): string {
  if (err instanceof UnknownPrinterError)
    return `L’imprimante « ${err.printerId} » est inconnue. Imprimantes connues : ${err.knownPrinters.join(', ')}.`;
  if (err instanceof ReceiptTooLongError) return err.problem.errorFr;
  switch (err.kind) {
    case 'job-not-found':
      return 'Cette tâche n’existe pas (ou plus).';
    case 'not-reprintable':
      return 'Seule une tâche imprimée, en échec ou interrompue peut être réimprimée.';
    default:
      return 'La demande a été refusée.';
  }
}
