// What a request asks to do, in the terms authorization and audit use: kube-apiserver's
// RequestInfoFactory (staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), ported
// for the paths the sandbox serves. A path under /api/<v>/ or /apis/<g>/<v>/ naming at least a
// resource is a resource request; everything else (/api, /apis/<g>/<v>, /version, /openapi/...) is a
// non-resource request whose verb is the lower-cased HTTP method.

export interface RequestInfo {
  resourceRequest: boolean;
  /** The URL path, for non-resource requests (and the 403 message). */
  path: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/** Namespace subresources are the Namespace's own (`namespaces/<name>/status`), not a kind inside it. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const VERB_OF_METHOD: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** A request for a path outside the API's resources (discovery, /version, /healthz). */
export function nonResourceRequest(verb: string, path: string): RequestInfo {
  return {
    resourceRequest: false,
    path,
    verb,
    apiGroup: '',
    apiVersion: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
  };
}

export function requestInfo(method: string, url: URL): RequestInfo {
  const path = url.pathname;
  const nonResource = nonResourceRequest(method.toLowerCase(), path);
  let parts = path.split('/').filter(Boolean);
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return nonResource;
  const groupless = parts[0] === 'api';
  parts = parts.slice(1);
  let apiGroup = '';
  if (!groupless) {
    if (parts.length < 3) return nonResource;
    apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  const apiVersion = parts[0]!;
  parts = parts.slice(1);
  let verb = VERB_OF_METHOD[method] ?? '';
  if (parts[0] === 'watch') {
    verb = 'watch';
    parts = parts.slice(1);
  }
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  const [resource = '', pathName = '', subresource = ''] = parts;
  let name = pathName;
  if (name === '' && verb === 'get') {
    const watch = url.searchParams.get('watch');
    verb = watch === 'true' || watch === '1' ? 'watch' : 'list';
    name = exactName(url.searchParams.get('fieldSelector'));
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';
  return { resourceRequest: true, path, verb, apiGroup, apiVersion, resource, subresource, namespace, name };
}

/** `metadata.name=x` (or `==`) in a field selector names the object a list or watch is about. */
function exactName(fieldSelector: string | null): string {
  for (const term of (fieldSelector ?? '').split(',')) {
    const match = /^\s*metadata\.name\s*==?\s*([^\s,]+)\s*$/.exec(term);
    if (match && /^[^/%]+$/.test(match[1]!) && match[1] !== '.' && match[1] !== '..') return match[1]!;
  }
  return '';
}
