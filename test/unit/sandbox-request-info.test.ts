// What a request asks, in RBAC's terms: cases from kube-apiserver's requestinfo_test.go, and how
// rules match them (evaluation_helpers_test.go): the sandbox's authorizer and audit rest on both.
import { describe, expect, it } from 'vitest';
import { type PolicyRule, ruleAllows } from '../../src/sandbox/rbac-authorizer.ts';
import { requestInfo } from '../../src/sandbox/request-info.ts';

const info = (method: string, path: string) => requestInfo(method, new URL(path, 'https://sandbox'));

describe('requestInfo', () => {
  it.each([
    ['GET', '/api/v1/namespaces', 'list', '', 'namespaces', '', '', ''],
    ['GET', '/api/v1/namespaces/other', 'get', '', 'namespaces', '', 'other', 'other'],
    ['GET', '/api/v1/namespaces/other/pods', 'list', '', 'pods', '', 'other', ''],
    ['GET', '/api/v1/namespaces/other/pods/foo', 'get', '', 'pods', '', 'other', 'foo'],
    ['GET', '/api/v1/pods', 'list', '', 'pods', '', '', ''],
    ['GET', '/api/v1/namespaces/other/pods/foo/status', 'get', '', 'pods', 'status', 'other', 'foo'],
    ['GET', '/api/v1/watch/pods', 'watch', '', 'pods', '', '', ''],
    ['GET', '/api/v1/watch/namespaces/other/pods/foo', 'watch', '', 'pods', '', 'other', 'foo'],
    ['GET', '/api/v1/pods?watch=true', 'watch', '', 'pods', '', '', ''],
    [
      'GET',
      '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo',
      'list',
      '',
      'pods',
      '',
      'other',
      'foo',
    ],
    [
      'GET',
      '/api/v1/namespaces/other/pods?watch=1&fieldSelector=metadata.name%3D%3Dfoo',
      'watch',
      '',
      'pods',
      '',
      'other',
      'foo',
    ],
    ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%2Fb', 'list', '', 'pods', '', '', ''],
    ['DELETE', '/api/v1/namespaces/other/pods', 'deletecollection', '', 'pods', '', 'other', ''],
    ['DELETE', '/api/v1/namespaces/other/pods/foo', 'delete', '', 'pods', '', 'other', 'foo'],
    ['PUT', '/api/v1/namespaces/other/finalize', 'update', '', 'namespaces', 'finalize', 'other', 'other'],
    [
      'POST',
      '/api/v1/namespaces/ns/serviceaccounts/sa/token',
      'create',
      '',
      'serviceaccounts',
      'token',
      'ns',
      'sa',
    ],
    [
      'PATCH',
      '/apis/apps/v1/namespaces/ns/deployments/web/scale',
      'patch',
      'apps',
      'deployments',
      'scale',
      'ns',
      'web',
    ],
    [
      'GET',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      'list',
      'rbac.authorization.k8s.io',
      'clusterroles',
      '',
      '',
      '',
    ],
  ])('%s %s', (method, path, verb, apiGroup, resource, subresource, namespace, name) => {
    expect(info(method, path)).toMatchObject({
      resourceRequest: true,
      verb,
      apiGroup,
      resource,
      subresource,
      namespace,
      name,
    });
  });

  it.each([
    '/api',
    '/apis',
    '/apis/apps',
    '/apis/apps/v1',
    '/api/v1',
    '/version',
    '/openapi/v3/apis/apps/v1',
  ])('GET %s is a non-resource request', (path) => {
    expect(info('GET', path)).toMatchObject({ resourceRequest: false, verb: 'get', path: path });
  });
});

describe('ruleAllows', () => {
  const request = (method: string, path: string) => info(method, path);
  const allows = (rule: PolicyRule, method: string, path: string) => ruleAllows(request(method, path), rule);

  it('matches a subresource only when the rule names it (or */subresource, or *)', () => {
    const scale = ['PATCH', '/apis/apps/v1/namespaces/ns/deployments/web/scale'] as const;
    expect(allows({ apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] }, ...scale)).toBe(
      false,
    );
    expect(
      allows({ apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['patch'] }, ...scale),
    ).toBe(true);
    expect(allows({ apiGroups: ['apps'], resources: ['*/scale'], verbs: ['patch'] }, ...scale)).toBe(true);
    expect(allows({ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, ...scale)).toBe(true);
  });

  it('matches resourceNames only for requests naming the object', () => {
    const rule = {
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: ['switch'],
      verbs: ['get', 'list', 'create'],
    };
    expect(allows(rule, 'GET', '/api/v1/namespaces/ns/configmaps/switch')).toBe(true);
    expect(allows(rule, 'GET', '/api/v1/namespaces/ns/configmaps/other')).toBe(false);
    expect(allows(rule, 'GET', '/api/v1/namespaces/ns/configmaps')).toBe(false);
    expect(allows(rule, 'POST', '/api/v1/namespaces/ns/configmaps')).toBe(false);
  });

  it('matches non-resource URLs exactly or by a trailing *', () => {
    const rule = { verbs: ['get'], nonResourceURLs: ['/version', '/apis/*'] };
    expect(allows(rule, 'GET', '/version')).toBe(true);
    expect(allows(rule, 'GET', '/apis/apps/v1')).toBe(true);
    expect(allows(rule, 'GET', '/api')).toBe(false);
    expect(allows(rule, 'POST', '/version')).toBe(false);
  });
});
