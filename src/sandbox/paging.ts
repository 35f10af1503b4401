// `limit`/`continue` on list requests, as kube-apiserver pages: an opaque continue token carries the
// resourceVersion of the first page and the key of the last item served; a token older than the
// store's event history answers 410 Expired (etcd has compacted the revision it would read at).
// The sandbox has no snapshots, so later pages read the current objects after that key (as a real
// server does once it falls back to an inconsistent continuation).
import { type KubeObject, StatusError } from './store.ts';

export interface PageMetadata {
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface Page {
  items: KubeObject[];
  metadata: PageMetadata;
}

/** What paging reads from the store: its current and its oldest resumable resourceVersion. */
export interface PagingClock {
  readonly resourceVersion: string;
  readonly oldestResourceVersion: number;
}

interface ContinueToken {
  v: 'meta.k8s.io/v1';
  rv: number;
  start: string;
}

/** The order lists are served in (the store's): namespace, then name. */
export function listKey(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

/**
 * Cuts one page out of `items` (already filtered and in list order). `filtered` says whether a label
 * or field selector applied: then, as with etcd, remainingItemCount is not known and left out.
 */
export function pageOf(
  items: KubeObject[],
  query: URLSearchParams,
  clock: PagingClock,
  filtered: boolean,
): Page {
  const limit = Number(query.get('limit') ?? 0);
  const token = query.get('continue');
  const position = token ? decodeToken(token) : undefined;
  if (position && position.rv < clock.oldestResourceVersion) throw expired();
  const resourceVersion = position ? String(position.rv) : clock.resourceVersion;
  const rest = position ? items.filter((item) => listKey(item) > position.start) : items;
  if (!Number.isInteger(limit) || limit <= 0 || rest.length <= limit)
    return { items: rest, metadata: { resourceVersion } };
  const page = rest.slice(0, limit);
  const next: ContinueToken = {
    v: 'meta.k8s.io/v1',
    rv: Number(resourceVersion),
    start: listKey(page[page.length - 1]!),
  };
  return {
    items: page,
    metadata: {
      resourceVersion,
      continue: Buffer.from(JSON.stringify(next)).toString('base64url'),
      ...(filtered ? {} : { remainingItemCount: rest.length - limit }),
    },
  };
}

function decodeToken(token: string): ContinueToken {
  let parsed: Partial<ContinueToken> | undefined;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<ContinueToken>;
  } catch {
    parsed = undefined;
  }
  if (parsed?.v !== 'meta.k8s.io/v1' || !Number.isInteger(parsed.rv) || typeof parsed.start !== 'string') {
    throw new StatusError(
      400,
      'BadRequest',
      'continue key is not valid: the continue token was not issued by this server',
    );
  }
  return parsed as ContinueToken;
}

function expired(): StatusError {
  return new StatusError(
    410,
    'Expired',
    'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
  );
}
